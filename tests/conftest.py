"""Shared test set-up."""
import pytest


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Small CPU ops run fastest and steadiest on one intra-op thread on a 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
