"""`spawn_local`: N data-parallel probe processes on this machine without torchrun (`archc probe --nproc N`)."""
from __future__ import annotations

import os
import pickle
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

import torch
import torch.distributed as dist

from archc.probe.collectives import DistInfo

# ---------------------------------------------------------------- local launch without torchrun


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


EXIT_WORKER_ERROR = 3  # a worker stopped on an ArchcError, which it left in error.pkl for the parent


def _worker(rank: int, world: int, port: int, payload_path: str, out_path: str, threads: int, stop: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the launcher decides when to stop, through `stop`
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(threads)
    from archc.errors import ArchcError
    from archc.io import atomic_write_json
    from archc.probe.train import run_probe

    try:
        with open(payload_path, "rb") as handle:
            model, config, data = pickle.load(handle)
        result = run_probe(model, config, data=data, stop=stop.is_set)
        if rank == 0:
            atomic_write_json(out_path, result.to_dict())
    except ArchcError as exc:
        error = Path(out_path).with_name(f"error{rank}.pkl")
        with open(error, "wb") as handle:
            pickle.dump(exc, handle)
        sys.exit(EXIT_WORKER_ERROR)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def spawn_local(model: Any, config: Any, nproc: int, data: Optional[Any] = None) -> Any:
    """Run the probe in `nproc` local processes (gloo on CPU, NCCL on GPUs); return rank 0's ProbeResult."""
    import torch.multiprocessing as mp

    from archc.probe.result import ProbeResult

    if nproc < 2:
        raise ValueError(f"spawn_local needs at least 2 processes, got {nproc}")
    if config.batch % nproc:
        from archc.errors import ArchcError

        raise ArchcError(f"--batch {config.batch} is not divisible by {nproc} processes",
                         expected=f"a multiple of {nproc}")
    gpus = torch.cuda.device_count() if torch.cuda.is_available() and config.device != "cpu" else 0
    if gpus and nproc > gpus:
        raise ValueError(f"{nproc} processes but {gpus} GPU(s): one process per GPU, or --device cpu")
    if data is None:  # made and checked once here, so a bad data source fails before any process starts
        import archc
        from archc.probe.sources import load_data

        ir = archc.lower(model)
        data = load_data(config.data, ir.input_shape, ir.classes, config.seed, config.synthetic_size,
                         config.test_fraction)
        data = data.check_against(ir.input_shape, ir.classes, config.batch)
    from archc.probe.hardware import resolve_setup

    resolve_setup(config, DistInfo(0, nproc, 0))  # device and CUDA-graph errors here, not inside a worker
    from archc.probe.hardware import choose_threads

    threads = config.threads or choose_threads(nproc)[0]
    with tempfile.TemporaryDirectory(prefix="archc-ddp-") as tmp:
        payload = Path(tmp) / "payload.pkl"
        with open(payload, "wb") as handle:
            pickle.dump((model, config, data), handle)
        out = Path(tmp) / "result.json"
        stop = mp.get_context("spawn").Event()
        context = mp.start_processes(_worker, args=(nproc, _free_port(), str(payload), str(out), threads, stop),
                                     nprocs=nproc, join=False, start_method="spawn")
        interrupted = False
        try:
            try:
                _join(context)
            except KeyboardInterrupt:  # the workers ignore SIGINT: they stop together at their next check,
                interrupted = True  # and rank 0 writes what was measured
                stop.set()
                _join(context)
        except mp.ProcessExitedException as exc:
            errors = sorted(Path(tmp).glob("error*.pkl"))
            if exc.exit_code == EXIT_WORKER_ERROR and errors:
                with open(errors[0], "rb") as handle:
                    raise pickle.load(handle) from None
            raise
        finally:
            for process in context.processes:  # a second Ctrl-C, or an error: leave no worker behind
                if process.is_alive():
                    process.terminate()
                    process.join(5)
        if not out.exists():
            if interrupted:
                raise KeyboardInterrupt
            raise RuntimeError("the data-parallel workers finished without a result")
        import json

        return ProbeResult.from_dict(json.loads(out.read_text()))


def _join(context: Any) -> None:
    while not context.join(timeout=0.5):
        pass
