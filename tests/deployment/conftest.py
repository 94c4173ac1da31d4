"""Shared by the deployment tests: one torch thread (2-core CI machines)."""
import pytest

from stl_mm.testing import torch_threads


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield
