"""Path-length gradients (Veit et al. 2016, Sec. 5): exact decomposition and the k distribution."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

import archc
from archc.probe import ProbeConfig, run_probe
from archc.probe.paths import PathGradients, random_masks, residual_paths, summarize
from probe_helpers import TINY_PROJ, TINY_RES, model




@pytest.mark.parametrize("text", [TINY_RES, TINY_PROJ])
def test_path_gradients_of_all_2_to_the_n_paths_sum_to_the_input_gradient(text):
    """Gradients are linear: at every block the gradient splits into branch + skip, so summing the single-path
    gradients over all 2^n paths gives back the ordinary gradient, sample by sample."""
    ir = model(text)
    net = archc.compile(ir, seed=3).eval()
    blocks = residual_paths(ir)
    assert blocks == ["stage1.block1", "stage1.block2", "stage2.block1"]
    probe = PathGradients(net, blocks)
    torch.manual_seed(0)
    x, y = torch.randn(5, 3, 8, 8), torch.randint(0, 4, (5,))
    logits = probe.forward(x, y)
    full = probe.input_grad(None)
    total = torch.zeros_like(full)
    by_k = {}
    for config in itertools.product([0.0, 1.0], repeat=probe.n):
        masks = torch.tensor(config).repeat(5, 1)
        g = probe.input_grad(masks)
        total += g
        by_k.setdefault(int(sum(config)), []).append(g.flatten(1).norm(dim=1))
    torch.testing.assert_close(total, full, rtol=1e-4, atol=1e-6)
    assert sorted(by_k) == [0, 1, 2, 3] and [len(v) for _, v in sorted(by_k.items())] == [1, 3, 3, 1]
    # the gates touch only the backward pass: the gated forward gives the ordinary logits
    torch.testing.assert_close(logits, archc.compile(ir, seed=3).eval()(x))
    assert not (full == 0).all()


def test_per_sample_masks_equal_separate_runs():
    """In eval mode one backward pass with a different path per sample = one pass per sample."""
    ir = model(TINY_RES)
    probe = PathGradients(archc.compile(ir, seed=1).eval(), residual_paths(ir))
    torch.manual_seed(1)
    x, y = torch.randn(4, 3, 8, 8), torch.randint(0, 4, (4,))
    masks = random_masks(4, probe.n, torch.Generator().manual_seed(0))
    probe.forward(x, y)
    together = probe.input_grad(masks)
    for i in range(4):
        probe.forward(x[i:i + 1], y[i:i + 1])
        alone = probe.input_grad(masks[i:i + 1])
        torch.testing.assert_close(together[i:i + 1], alone, rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="masks must have shape"):
        probe.input_grad(torch.ones(4, probe.n + 1))


def test_random_masks_cover_every_length():
    gen = torch.Generator().manual_seed(0)
    masks = random_masks(20, 6, gen)
    ks = masks.sum(1).long().tolist()
    assert set(ks) == set(range(7))
    assert masks.shape == (20, 6) and set(masks.unique().tolist()) <= {0.0, 1.0}


def test_summary_distribution_sums_to_one():
    n = 4
    sums = [8.0, 4.0, 2.0, 1.0, 0.5]
    counts = [1] * 5
    out = summarize(n, sums, [s * s for s in sums], counts)
    assert out["k"] == [0, 1, 2, 3, 4]
    assert sum(out["path_fraction"]) == pytest.approx(1.0)
    assert out["path_fraction"][2] == pytest.approx(6 / 16)
    assert sum(out["weighted"]) == pytest.approx(1.0)
    raw = [math.comb(4, k) * sums[k] for k in range(5)]
    assert out["weighted"] == pytest.approx([r / sum(raw) for r in raw])
    assert out["summary"]["mode_k"] == 1  # C(4,k)*8/2^k = 8, 16, 12, 4, 0.5
    assert out["std"] == [0.0] * 5


def test_probe_reports_path_gradients_for_residual_nets():
    config = ProbeConfig(steps=3, batch=16, data="synthetic", synthetic_size=128, progress=False, path_batch=16, path_repeats=3,
                         path_batches=2)
    result = run_probe(model(TINY_RES), config)
    pg = result.path_gradients
    assert pg["blocks"] == 3 and pg["k"] == [0, 1, 2, 3]
    assert sum(pg["count"]) == pg["settings"]["measurements"] == 16 * 3 * 2
    assert all(c > 0 for c in pg["count"]) and all(m > 0 for m in pg["mean"])
    assert sum(pg["weighted"]) == pytest.approx(1.0)
    assert pg["block_paths"] == ["stage1.block1", "stage1.block2", "stage2.block1"]
