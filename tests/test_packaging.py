"""A non-editable install works outside the source checkout: the wheel
carries configs/, tools/ and the model index in ``stl_mm/.mim``; every
variant builds by name; mmpretrain's hub lists the models; ``mim run``,
``mim train`` and ``mim test`` drive the installed tools.

The wheel is built from a copy of the checkout (no build files land in the
repository) and installed with ``pip install --no-deps --target`` (the
dependencies are those of this environment).
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from stl_mm.testing import REPO

SOURCES = ('stl_mm', 'configs', 'tools', 'requirements', 'setup.py',
           'README.md', 'MANIFEST.in', 'model-index.yml')


def _run(cmd, cwd, site, timeout=600):
    env = dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS='1',
               PYTHONUNBUFFERED='1')
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, (
        f'{" ".join(map(str, cmd))} failed ({out.returncode}):\n'
        f'{out.stdout[-3000:]}\n{out.stderr[-5000:]}')
    return out


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """(site folder with the installed wheel, a folder outside both)."""
    tmp = tmp_path_factory.mktemp('install')
    src = tmp / 'src'
    src.mkdir()
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.mim',
                                    '*.egg-info')
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    wheels, site, elsewhere = tmp / 'wheels', tmp / 'site', tmp / 'elsewhere'
    elsewhere.mkdir()
    pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check']
    _run(pip + ['wheel', '--no-deps', '--no-build-isolation', '-q', '-w',
                str(wheels), str(src)], src, '')
    (wheel, ) = wheels.glob('stl_mm-*.whl')
    _run(pip + ['install', '--no-deps', '--no-compile', '-q', '--target',
                str(site), str(wheel)], tmp, '')
    return site, elsewhere


def test_installed_package_builds_every_variant_and_finds_its_files(
        installed):
    site, elsewhere = installed
    script = textwrap.dedent('''
        import json, torch, mmpretrain, stl_mm
        from stl_mm.apis import VARIANT_CONFIGS, init_model
        from stl_mm.apis.model_index import load_model_index
        from stl_mm.utils.resources import resource_root, tool_path
        params = {}
        for name in VARIANT_CONFIGS:
            with torch.device('meta'):  # architecture only, no weights
                model = init_model(name, device='meta')
            params[name] = sum(p.numel() for p in model.parameters())
        index = {m['Name']: m['Metadata'].get('Parameters')
                 for m in load_model_index()}
        root = resource_root()
        print(json.dumps(dict(
            package=stl_mm.__file__, version=stl_mm.__version__,
            root=str(root), params=params, index=index,
            configs=sorted(str(p.relative_to(root / 'configs'))
                           for p in (root / 'configs').rglob('*.py')),
            train=str(tool_path('train.py')),
            listed=mmpretrain.list_models('*fan*'),
            built=type(mmpretrain.get_model('fan_tiny_12_p16_224').backbone
                       ).__name__)))
        ''')
    out = _run([sys.executable, '-c', script], elsewhere, site)
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info['package'] == str(site / 'stl_mm' / '__init__.py')
    assert info['root'] == str(site / 'stl_mm' / '.mim')
    assert info['version'] == __import__('stl_mm').__version__
    checkout = sorted(str(p.relative_to(REPO / 'configs'))
                      for p in (REPO / 'configs').rglob('*.py'))
    assert info['configs'] == checkout
    assert info['train'] == str(site / 'stl_mm/.mim/tools/train.py')
    for name, count in info['params'].items():
        assert count == info['index'][name], name  # metafile Parameters
    assert 'fan_tiny_8_p4_hybrid_token' in info['listed']
    assert info['built'] == 'FAN'


def test_mim_runs_trains_and_tests_the_installed_package(installed, tmp_path):
    pytest.importorskip('mim')
    site, elsewhere = installed
    mim = [sys.executable, '-m', 'mim']
    data = tmp_path / 'data'
    _run(mim + ['run', 'stl_mm', 'make_demo_data', str(data), '--num-classes',
                '4', '--train-per-class', '4', '--val-per-class', '2',
                '--img-size', '64', '--seed', '0'], elsewhere, site)
    root = data / 'cls'
    opts = []
    for loader in ('train', 'val', 'test'):
        opts += [f'{loader}_dataloader.dataset.data_root={root}',
                 f'{loader}_dataloader.num_workers=0',
                 f'{loader}_dataloader.persistent_workers=False']
    config = 'fan_tiny-custom_1xb16-8e_demo-64px.py'  # found in the package
    work = tmp_path / 'work'
    out = _run(mim + ['train', 'stl_mm', config, '--work-dir', str(work),
                      '--cfg-options', 'train_cfg.max_epochs=1', *opts],
               elsewhere, site)
    assert str(site / 'stl_mm/.mim/tools/train.py') in out.stdout
    assert (work / 'epoch_1.pth').is_file()
    out = _run(mim + ['test', 'stl_mm', config, '--checkpoint',
                      str(work / 'epoch_1.pth'), '--work-dir',
                      str(tmp_path / 'test'), '--cfg-options', *opts[6:]],
               elsewhere, site)
    assert 'accuracy/top1' in out.stdout + out.stderr
