"""archc.probe.state: a snapshot restored in place gives back the weights, buffers and optimizer state."""
from __future__ import annotations

import torch
from torch import nn

from archc.probe.state import restore, snapshot


def _net_and_sgd() -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(2))
    net(torch.randn(2, 3, 6, 6))  # materialise the lazy layer
    return net, torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)


def _step(net: nn.Module, opt: torch.optim.Optimizer, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    loss = net(torch.randn(4, 3, 6, 6, generator=g)).square().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


def test_restore_puts_back_weights_buffers_and_momentum_in_the_same_tensors():
    net, opt = _net_and_sgd()
    _step(net, opt, 1)
    snap = snapshot(net, opt)
    tensors = [id(t) for t in [*net.parameters(), *net.buffers()]]
    _step(net, opt, 2)
    _step(net, opt, 3)
    after_two = [t.clone() for t in net.parameters()]
    restore(net, opt, snap)
    assert [id(t) for t in [*net.parameters(), *net.buffers()]] == tensors  # in place: a CUDA graph stays valid
    _step(net, opt, 2)
    _step(net, opt, 3)
    assert all(torch.equal(a, b) for a, b in zip(after_two, net.parameters()))  # the same two steps again


def test_a_fresh_optimizer_steps_as_from_an_empty_state():
    net, opt = _net_and_sgd()
    start = snapshot(net, opt)
    _step(net, opt, 1)
    once = [t.clone() for t in net.parameters()]
    _step(net, opt, 2)
    restore(net, opt, start, fresh_optimizer=True)  # momentum buffers zeroed, not removed
    assert all(float(v.abs().sum()) == 0 for st in opt.state.values() for v in st.values() if torch.is_tensor(v))
    _step(net, opt, 1)
    assert all(torch.allclose(a, b) for a, b in zip(once, net.parameters()))
