"""Helpers shared by the test suite (paths, running tools, fixtures' data).

Imports nothing from pytest; the fixtures themselves are in
``tests/conftest.py`` and use these helpers.
"""
import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

__all__ = [
    'REPO', 'SHARED', 'FIXTURES', 'NO_FIXTURES', 'DEMO_CLS_CONFIG',
    'run_tool', 'free_port', 'demo_data_opts', 'synth_state_dict',
    'torch_threads'
]

#: the source checkout (configs/, tools/ and tests/ are next to stl_mm/)
REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / 'shared'
#: upstream key lists, parameter counts and reference outputs (the
#: environment variable STL_MM_FIXTURES points elsewhere, e.g. from a git
#: worktree)
FIXTURES = Path(os.environ.get('STL_MM_FIXTURES',
                               SHARED / 'fixtures' / 'official'))
NO_FIXTURES = 'upstream fixtures not found at ' + str(FIXTURES)
DEMO_CLS_CONFIG = REPO / 'configs/demo/fan_tiny-custom_1xb16-8e_demo-64px.py'


def run_tool(args, timeout=900, env=None, check=True):
    """Run ``python tools/<script> ...`` (or a shell script) from the repo
    root in a subprocess; return the CompletedProcess."""
    cmd = ['bash', *args] if args[0].endswith('.sh') else [
        sys.executable, *args]
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')
    full_env.update(env or {})
    # the tools of this checkout import this checkout's package, also when
    # a test puts its own folder on PYTHONPATH
    full_env['PYTHONPATH'] = os.pathsep.join(
        [str(REPO)] + ([full_env['PYTHONPATH']]
                       if full_env.get('PYTHONPATH') else []))
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                         timeout=timeout, env=full_env)
    if check and out.returncode != 0:
        raise AssertionError(
            f'{" ".join(map(str, cmd))} failed ({out.returncode}):\n'
            f'{out.stdout[-4000:]}\n{out.stderr[-6000:]}')
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def demo_data_opts(demo_root, split_root='cls'):
    """--cfg-options that point a demo config at generated data and keep the
    data loading in the main process (fast start, 2-core machines)."""
    root = Path(demo_root) / split_root
    opts = []
    for loader in ('train', 'val', 'test'):
        opts += [f'{loader}_dataloader.dataset.data_root={root}',
                 f'{loader}_dataloader.num_workers=0',
                 f'{loader}_dataloader.persistent_workers=False']
    return opts


def synth_state_dict(keys, seed):
    """Upstream-format state dict of the shared fixtures' generator
    (``FIXTURES/synth_state_dict.py``) for a key list and a seed."""
    spec = importlib.util.spec_from_file_location(
        '_stl_mm_fixture_synth_state_dict', FIXTURES / 'synth_state_dict.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.synth_state_dict(keys, seed)


@contextlib.contextmanager
def torch_threads(num: int = 1):
    """Run the block with ``num`` torch intra-op threads."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(num)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
