"""Shared fixtures: generated demo data on disk, one torch thread.

The helpers they use (paths, running tools, cfg-options) are in
:mod:`stl_mm.testing`; test modules import them from there.
"""
from pathlib import Path

import pytest

from stl_mm.testing import run_tool, torch_threads


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory) -> Path:
    """A small generated demo set (4 classes, 64x64): ``<root>/cls/...``."""
    root = tmp_path_factory.mktemp('demo')
    run_tool(['tools/make_demo_data.py', str(root), '--num-classes', '4',
              '--train-per-class', '8', '--val-per-class', '4',
              '--img-size', '64', '--seed', '0'])
    return root


@pytest.fixture
def one_thread():
    """The test runs with one torch thread (2-core CI machines)."""
    with torch_threads(1):
        yield


@pytest.fixture(params=['cpu', 'cuda'])
def parity_device(request):
    """Parity tests run on the CPU and, when there is a GPU, on CUDA in
    strict float32 (TF32 off for matmuls and cuDNN convolutions, the
    fixtures' tolerance of 1e-4 assumes it). ``tools/gpu_check.sh`` runs
    the CUDA ones (``-k cuda``)."""
    import torch
    if request.param == 'cpu':
        yield 'cpu'
        return
    if not torch.cuda.is_available():
        pytest.skip('no CUDA GPU')
    flags = (torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield 'cuda'
    finally:
        (torch.backends.cuda.matmul.allow_tf32,
         torch.backends.cudnn.allow_tf32) = flags
