"""The probe's training loop: a seeded short run recording loss, accuracy and the gradient norm of every
conv/fc weight, without a host sync per layer.

Each step writes one row [loss, correct, norm_1 .. norm_L] into a device-side window (the norms come from
one `torch._foreach_norm` call); every `check_every` steps the window goes to the host in one copy, is
checked for NaN/Inf and absorbed. On CPU the check runs every step before the optimizer step; on CUDA
every logged step, with a snapshot of the weights so that a NaN found later is replayed to its step and
traced to the first layer whose output (or gradient) became non-finite."""
from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any, Callable, Iterable, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from archc.errors import ArchcError, ArchcRuntimeError
from archc.ir.graph import Model, OpNode
from archc.probe.config import ProbeConfig
from archc.probe.data import BatchOrder, ProbeData
from archc.probe.sources import load_data
from archc.probe.collectives import (all_reduce_sum, barrier, convert_sync_bn, ddp_wrap, env_info,
                                     init_process_group)
from archc.probe.evaluate import evaluate
from archc.probe.hardware import Setup, machine_info, resolve_setup, torch_threads
from archc.probe.interrupts import InterruptGuard
from archc.probe.naming import run_label
from archc.probe.nonfinite import diagnose, finite, first_nonfinite_output, undiagnosed
from archc.probe.layers import watched_layers
from archc.probe.progress import Progress
from archc.probe.result import ProbeResult
from archc.probe.state import restore, snapshot

GRAPH_WARMUP = 3
OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)  # torch.OutOfMemoryError: >= 2.5


class Trainer:
    def __init__(self, model: Model, config: ProbeConfig, data: ProbeData, setup: Setup) -> None:
        import archc

        self.ir, self.config, self.data, self.setup = model, config, data, setup
        self.device = setup.device
        self.layers = watched_layers(model)
        if not self.layers:
            raise ArchcError(f"{model.name} has no conv or fc weights to probe")
        net = archc.compile(model, seed=config.seed)
        params = dict(net.named_parameters())
        missing = [layer.param for layer in self.layers if layer.param not in params]
        if missing:
            raise RuntimeError(f"IR paths without parameters in the torch module: {', '.join(missing[:3])}")
        net.train()
        if setup.dist.active and config.sync_bn:
            net = convert_sync_bn(net, self.device.type)
        net = net.to(self.device, setup.dtype, memory_format=torch.channels_last if setup.channels_last else torch.preserve_format)
        self.raw = net
        self.tracked = [dict(net.named_parameters())[layer.param] for layer in self.layers]
        module: nn.Module = net
        if setup.dist.active:
            module = ddp_wrap(net, self.device, sync_buffers=not config.sync_bn)
        if config.compile:
            module = torch.compile(module, mode=config.compile_mode)  # type: ignore[assignment]
        self.module = module
        self.graphs = config.cuda_graphs
        if config.optimizer == "sgd":
            self.opt: torch.optim.Optimizer = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum,
                                                              weight_decay=config.weight_decay)
        else:
            self.opt = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                        capturable=self.graphs)
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)
        test = data.test if config.evaluate else None
        self.test_images = test.images.to(self.device) if test is not None else None
        self.test_labels = test.labels.to(self.device) if test is not None else None
        self.eval_seconds = 0.0
        self.order = BatchOrder(len(data), config.batch, config.seed, setup.dist.rank, setup.dist.world, self.device)
        width = setup.check_every
        self.win_lc = torch.zeros(width, 2, device=self.device, dtype=setup.dtype)
        self.win_norms = torch.zeros(width, len(self.layers), device=self.device, dtype=setup.dtype)
        self.last_row: Optional[tuple[int, list[float]]] = None  # (step, norms) last absorbed
        self.snap: Optional[list[Any]] = None
        self.snap_step = 0
        self.graph: Optional[Any] = None
        self.guard = InterruptGuard(False)  # run_probe hands in the active one under DDP

    # ------------------------------------------------------------ one step

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.order.indices(step)
        x = self.data.normalize(self.images[idx]).to(self.setup.dtype)
        if self.setup.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, self.labels[idx]

    def _autocast(self) -> Any:
        if not self.setup.amp:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=not self.graphs)

    def _loss(self, out: Any, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = self.setup.dtype  # bf16 logits are scored in float32
        if isinstance(out, tuple):
            logits, aux = out
            loss = F.cross_entropy(logits.to(dtype), y)
            for name, aux_logits in aux.items():
                loss = loss + self.raw.aux_loss_weights[name] * F.cross_entropy(aux_logits.to(dtype), y)
            return loss, logits
        return F.cross_entropy(out.to(dtype), y), out

    def compute(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, backward, norms (no optimizer step): -> ([loss, correct], [norm per watched layer])."""
        with self._autocast():
            loss, logits = self._loss(self.module(x), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.tracked]
        dtype = self.setup.dtype
        norms = torch.stack(torch._foreach_norm(grads)).to(dtype)
        correct = (logits.argmax(1) == y).sum()
        return torch.stack([loss.detach().to(dtype), correct.to(dtype)]), norms

    def update(self, step: int) -> None:
        """The optimizer step after step `step`, at the schedule's learning rate."""
        lr = self.config.lr_at(step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.step()

    def test_now(self, step: int, result: ProbeResult) -> None:
        """Test loss and error of the weights after `step` updates, appended to the result."""
        data = self.data.test
        if self.test_images is None or self.test_labels is None or data is None:
            return
        started = time.perf_counter()
        dist = self.setup.dist
        loss, error = evaluate(self.raw, data, self.test_images, self.test_labels, self.config.batch // dist.world,
                               self.setup.dtype, self._autocast, self.setup.channels_last, dist.rank, dist.world)
        result.test_steps.append(step)
        result.test_loss.append(loss)
        result.test_error.append(error)
        self.eval_seconds += time.perf_counter() - started

    # ------------------------------------------------------------ state snapshots (for replays and graphs)

    def snapshot(self) -> list[Any]:
        return snapshot(self.raw, self.opt)

    def restore(self, snap: list[Any], fresh_optimizer: bool = False) -> None:
        restore(self.raw, self.opt, snap, fresh_optimizer)

    def capture_graph(self) -> None:
        """Record forward, backward, norms and the optimizer step as one CUDA graph (whole-network capture).
        The warm-up steps run on a side stream and are undone before capture."""
        x, y = self.batch(1)
        self.static_x, self.static_y = x.clone(), y.clone()
        initial = self.snapshot()
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(GRAPH_WARMUP):
                self.compute(self.static_x, self.static_y)
                self.opt.step()
        torch.cuda.current_stream(self.device).wait_stream(stream)
        self.restore(initial, fresh_optimizer=True)
        self.graph = torch.cuda.CUDAGraph()
        self.opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(self.graph):
            self.static_lc, self.static_norms = self.compute(self.static_x, self.static_y)
            self.opt.step()

    # ------------------------------------------------------------ window -> host

    def gather(self, n: int, reduce: bool = True) -> torch.Tensor:
        """The last n rows as (loss, accuracy, norm_1 .. norm_L), in one device->host copy. Under DDP the
        losses and correct counts are summed over processes first (the norms are equal on every rank)."""
        lc = self.win_lc[:n]
        world = self.setup.dist.world
        if reduce and self.setup.dist.active:
            all_reduce_sum(lc)
            lc[:, 0] /= world
            samples = self.config.batch
        else:
            samples = self.config.batch // world
        rows = torch.cat([lc, self.win_norms[:n]], 1).cpu()
        rows[:, 1] /= samples
        return rows

    # ------------------------------------------------------------ non-finite values

    def diagnose(self, step: int, row: torch.Tensor, x: torch.Tensor) -> dict:
        return diagnose(step, row, x, [layer.path for layer in self.layers],
                        lambda batch: first_nonfinite_output(self.raw, batch, self._autocast))

    def replay_to(self, step: int) -> Optional[dict]:
        """Restore the last snapshot, rerun eagerly up to `step` and diagnose it there."""
        assert self.snap is not None
        self.graphs = False
        self.restore(self.snap)
        for t in range(self.snap_step + 1, step + 1):
            x, y = self.batch(t)
            lc, norms = self.compute(x, y)
            if t == step:
                row = torch.cat([lc, norms]).cpu()
                if all(finite(float(v)) for v in row):
                    return None
                return self.diagnose(step, row, x)
            self.update(t)
        return None

    # ------------------------------------------------------------ the run

    def _is_log(self, step: int) -> bool:
        return step == 1 or step % self.config.log_every == 0 or step == self.config.steps

    def absorb(self, rows: torch.Tensor, first_step: int, result: ProbeResult) -> Optional[int]:
        """Append rows to the result up to the first non-finite one; return that row's index, if any."""
        for i, row in enumerate(rows.tolist()):
            if not all(finite(v) for v in row):
                return i
            step = first_step + i
            result.loss.append(row[0])
            result.acc.append(row[1])
            self.last_row = (step, row[2:])
            if self._is_log(step):
                result.norm_steps.append(step)
                result.norms.append(row[2:])
        return None

    def run(self, result: ProbeResult) -> ProbeResult:
        config, setup = self.config, self.setup
        show = config.progress and setup.dist.is_main
        progress = Progress(config.steps, result.label, enabled=show, batch=config.batch)
        bench = torch.backends.cudnn.benchmark
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        need_snap = self.graphs or setup.check_every > 1
        started = time.perf_counter()
        syncs: list[tuple[int, float]] = []
        last_sync, written = 0, 0
        try:
            if need_snap:
                self.snap, self.snap_step = self.snapshot(), 0
            if self.graphs:
                self.capture_graph()
            self.test_now(0, result)
            for step in range(1, config.steps + 1):
                x, y = self.batch(step)
                if self.graph is not None:
                    self.static_x.copy_(x)
                    self.static_y.copy_(y)
                    self.graph.replay()
                    lc, norms = self.static_lc, self.static_norms
                else:
                    lc, norms = self.compute(x, y)
                i = step - last_sync - 1
                self.win_lc[i].copy_(lc)
                self.win_norms[i].copy_(norms)
                written = i + 1
                if step == 1 or step % setup.check_every == 0 or step == config.steps:
                    rows = self.gather(written)
                    bad = self.absorb(rows, last_sync + 1, result)
                    if bad is not None:
                        bad_step = last_sync + 1 + bad
                        if bad_step == step and self.graph is None:
                            info = self.diagnose(step, rows[bad], x)
                        else:
                            info = self.replay_to(bad_step) or undiagnosed(bad_step, rows[bad], [lyr.path for lyr in self.layers])
                        result.status, result.nonfinite = "nonfinite", info
                        self._keep_last_norms(result)
                        progress.close(f"{result.label}: stopped: {info['message']}")
                        break
                    if self.guard.agreed(self.device):  # a Ctrl-C in any process stops all at this step
                        raise KeyboardInterrupt
                    if self.graph is None:
                        self.update(step)
                    last_sync, written = step, 0
                    syncs.append((step, time.perf_counter() - self.eval_seconds))
                    if need_snap:
                        self.snap, self.snap_step = self.snapshot(), step
                    progress.update(step, result.loss[-1], result.acc[-1])
                elif self.graph is None:
                    self.update(step)
                if step % config.log_every == 0 or step == config.steps:
                    self.test_now(step, result)
        except KeyboardInterrupt:
            result.status = "interrupted"
            start = len(result.loss) - last_sync  # rows of this window not yet absorbed
            if written > start:
                self.absorb(self.gather(written, reduce=False)[start:], last_sync + 1 + start, result)
            self._keep_last_norms(result)
            progress.close(f"{result.label}: interrupted after {len(result.loss)} step(s); keeping what was measured")
        except OUT_OF_MEMORY:
            self._free()
            raise out_of_memory(result.name, config, self.device) from None
        finally:
            torch.backends.cudnn.benchmark = bench
        if result.status == "completed":
            progress.close()
        result.timing = self._timing(started, syncs)
        return result

    def _keep_last_norms(self, result: ProbeResult) -> None:
        """A run that stops early keeps the norms of its last measured step ("the end" of its figures)."""
        last = self.last_row
        if last is not None and last[0] == len(result.loss) and result.norm_steps[-1:] != [last[0]]:
            result.norm_steps.append(last[0])
            result.norms.append(last[1])

    def _timing(self, started: float, syncs: list[tuple[int, float]]) -> dict:
        total = time.perf_counter() - started
        out = {"seconds": round(total, 3), "test_seconds": round(self.eval_seconds, 3)}
        if len(syncs) >= 2 and syncs[-1][1] > syncs[0][1]:
            rate = (syncs[-1][0] - syncs[0][0]) / (syncs[-1][1] - syncs[0][1])
            out["steps_per_s"] = round(rate, 3)
            out["samples_per_s"] = round(rate * self.config.batch, 1)
        return out

    def _free(self) -> None:
        self.graph = None
        self.opt.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def out_of_memory(name: str, config: ProbeConfig, device: torch.device) -> ArchcRuntimeError:
    where = "GPU" if device.type == "cuda" else "host"
    smaller = max(1, config.batch // 2)
    return ArchcRuntimeError(f"out of {where} memory probing {name} at batch {config.batch}",
                             expected=f"a smaller batch, e.g. --batch {smaller}")


def _display_path(source: Any) -> str:
    """The spec file relative to the working directory when it lies below it (reports stay portable)."""
    if not source:
        return ""
    from pathlib import Path

    path = Path(str(source))
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return str(source)


def require_classifier(ir: Model) -> None:
    """The probe trains a classifier: refuse a network that ends in feature maps (a module alone, `head: []`).

    Raises ArchcError naming the output shape."""
    out = tuple(ir.body.out_shape)
    if out != (ir.classes,):
        shape = " x ".join(str(d) for d in out)
        raise ArchcError(f"{ir.name} ends in feature maps ({shape}), not class scores: the probe trains a classifier",
                         expected="a head ending in class scores (e.g. gap + fc) instead of `head: []`")


def run_probe(model: Union[Model, Any], config: ProbeConfig, data: Optional[ProbeData] = None,
              overrides: Iterable[str] = (), stop: Optional[Callable[[], bool]] = None) -> ProbeResult:
    """Train `model` (IR, Spec or spec path) briefly and record what the gradients do. See ProbeConfig.
    `stop`: polled at each check under DDP, True ends the run there as a Ctrl-C would (spawn_local's workers)."""
    import archc

    from archc.probe.paths import measure_path_gradients, residual_paths

    ir = archc.lower(model, overrides)
    require_classifier(ir)
    overrides = ir.overrides
    info = env_info()
    setup = resolve_setup(config, info)
    init_process_group(info, setup.device.type)
    if data is None:
        data = load_data(config.data, ir.input_shape, ir.classes, config.seed, config.synthetic_size,
                         config.test_fraction)
    data = data.check_against(ir.input_shape, ir.classes, config.batch)
    if config.batch % info.world:
        raise ArchcError(f"batch {config.batch} is not divisible by {info.world} processes",
                         expected=f"a multiple of {info.world}")
    cost = ir.cost
    test = data.test if config.evaluate else None
    result = ProbeResult(
        name=ir.name, label=config.label or run_label(ir.name, ir.title, overrides),
        config=config, layers=watched_layers(ir),
        model={"title": ir.title, "params": cost.params, "macs": cost.macs, "input": list(ir.input_shape),
               "classes": ir.classes, "source": _display_path(ir.source), "overrides": list(overrides),
               "residual_blocks": len(residual_paths(ir)), "depth": max(layer.depth for layer in watched_layers(ir)),
               "norm_layers": sum(1 for node in ir.walk() if isinstance(node, OpNode) and node.op.category == "norm")},
        data={"name": data.name, "source": data.source, "images": len(data), "shape": list(data.shape),
              "stored_shape": list(data.stored_shape), "classes": data.classes, "notes": list(data.notes),
              "test_images": len(test) if test is not None else 0,
              "split": data.split if test is not None else "no test part"},
        run={"device": setup.device.type, "amp": "bf16" if setup.amp else "none", "dtype": config.dtype,
             "channels_last": setup.channels_last, "compile": config.compile and config.compile_mode,
             "cuda_graphs": config.cuda_graphs,
             "check_every": setup.check_every, "world_size": info.world, "machine": machine_info(setup.device)})
    with InterruptGuard(info.active, stop) as guard, torch_threads(config.threads):
        try:  # the model and the data set go to the device here; the training loop frees its own memory first
            trainer = Trainer(ir, config, data, setup)
        except OUT_OF_MEMORY:
            if setup.device.type == "cuda":
                torch.cuda.empty_cache()
            raise out_of_memory(ir.name, config, setup.device) from None
        trainer.guard = guard
        result.run["machine"]["torch_threads"] = torch.get_num_threads()
        trainer.run(result)
        if config.path_gradients and result.status == "completed":
            if info.is_main:
                try:
                    with guard.raising():  # rank 0 works alone here: Ctrl-C raises as usual
                        result.path_gradients, result.path_note = measure_path_gradients(
                            trainer.raw, ir, data, config, setup.device)
                except KeyboardInterrupt:
                    result.status = "interrupted"
                    result.path_note = "training completed; interrupted before the path gradients were measured"
                except OUT_OF_MEMORY:
                    trainer._free()
                    where = "GPU" if setup.device.type == "cuda" else "host"
                    result.path_note = (f"out of {where} memory measuring the path gradients (path batch "
                                        f"{config.path_batch}); the training results are kept")
            barrier()
    return result
