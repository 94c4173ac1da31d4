"""Shared fixtures: generated demo data on disk, paths, tiny configs."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / 'shared'
FIXTURES = SHARED / 'fixtures' / 'official'
DEMO_CLS_CONFIG = REPO / 'configs/demo/fan_tiny-custom_1xb16-8e_demo-64px.py'


def run_tool(args, timeout=900, env=None, check=True):
    """Run ``python tools/<script> ...`` (or a shell script) from the repo
    root; return the CompletedProcess."""
    cmd = ['bash', *args] if args[0].endswith('.sh') else [
        sys.executable, *args]
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')
    full_env.update(env or {})
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


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory) -> Path:
    """A small generated demo set (4 classes, 64x64): ``<root>/cls/...``."""
    root = tmp_path_factory.mktemp('demo')
    run_tool(['tools/make_demo_data.py', str(root), '--num-classes', '4',
              '--train-per-class', '8', '--val-per-class', '4',
              '--img-size', '64', '--seed', '0'])
    return root


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
