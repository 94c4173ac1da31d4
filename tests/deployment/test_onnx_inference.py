"""tools/deployment/onnx_inference.py: runs with torch, mmengine, mmcv,
mmpretrain and stl_mm import-blocked, and its top-k and token grid equal
``stl_mm.apis.inference_model`` on the same image files."""
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

pytest.importorskip('onnx', reason='requirements/deploy.txt')
pytest.importorskip('onnxruntime', reason='requirements/deploy.txt')

from stl_mm.apis import inference_model, init_model  # noqa: E402
from stl_mm.apis.onnx_export import export_onnx  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'tools/deployment/onnx_inference.py'
LABELER = REPO / 'configs/stl/demo/fan_demo_token_labeler.py'
BASELINE = REPO / 'configs/stl/demo/fan_demo_baseline.py'
CLASSES = ['class_00_disc', 'class_01_square', 'class_02_triangle',
           'class_03_cross']
BLOCKED = ('torch', 'torchvision', 'mmengine', 'mmcv', 'mmpretrain', 'mmseg',
           'mmdet', 'stl_mm', 'onnx', 'onnxscript', 'cv2')
# a meta-path finder, installed at interpreter start-up, that refuses the
# training stack: the script must not need any of it
SITECUSTOMIZE = textwrap.dedent(f'''
    import sys

    class _Blocker:
        blocked = {BLOCKED!r}

        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in self.blocked:
                raise ImportError(f'{{name}} is blocked in this test')
            return None

    sys.meta_path.insert(0, _Blocker())
''')


@pytest.fixture(scope='module')
def blocked_env(tmp_path_factory):
    site = tmp_path_factory.mktemp('blocked_site')
    (site / 'sitecustomize.py').write_text(SITECUSTOMIZE)
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(PYTHONPATH=str(site), OMP_NUM_THREADS='1')
    return env


def _standalone(args, env, cwd):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)],
                          capture_output=True, text=True, timeout=300,
                          env=env, cwd=cwd)


def _images(folder, sizes, seed=0):
    """PNG files with smooth random content (w x h sizes)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (w, h) in enumerate(sizes):
        base = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), np.uint8)
        image = Image.fromarray(base).resize((w, h), Image.Resampling.BICUBIC)
        path = folder / f'img_{i}.png'
        image.save(path)
        paths.append(str(path))
    return paths


def _checkpoint(config, path):
    """Random weights of ``config`` saved with the demo class names."""
    torch.manual_seed(0)
    model = init_model(str(config))
    torch.save({'meta': {'dataset_meta': {'classes': CLASSES}},
                'state_dict': model.state_dict()}, path)
    return str(path)


def _lines(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def _assert_equal(lines, expected, files):
    assert [r['file'] for r in lines] == files
    for got, ref in zip(lines, expected):
        assert got['topk_labels'] == ref['topk_labels']
        np.testing.assert_allclose(got['topk_scores'], ref['topk_scores'],
                                   atol=1e-5)
        assert got['topk_names'] == ref['topk_classes']
        if 'token_labels' in ref:
            np.testing.assert_array_equal(np.array(got['token_labels']),
                                          ref['token_labels'])
        else:
            assert 'token_labels' not in got


def test_blocker_blocks(blocked_env, tmp_path):
    result = subprocess.run([sys.executable, '-c', 'import torch'],
                            capture_output=True, text=True, env=blocked_env,
                            cwd=tmp_path)
    assert result.returncode != 0 and 'blocked in this test' in result.stderr


def test_fixed_shape_token_model_equals_inference_model(blocked_env,
                                                        tmp_path):
    # the ImageNet-style test pipeline, scaled down and not square: bicubic
    # short-edge resize (Pillow) and a 48 x 64 (h x w) center crop
    cfg = Config.fromfile(str(LABELER))
    cfg.test_dataloader.dataset.pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='ResizeEdge', scale=64, edge='short', backend='pillow',
             interpolation='bicubic'),
        dict(type='CenterCrop', crop_size=(64, 48)),
        dict(type='PackInputs')]
    config = tmp_path / 'labeler_resize.py'
    cfg.dump(str(config))
    ckpt = _checkpoint(config, tmp_path / 'labeler.pth')
    model = init_model(str(config), ckpt)
    onnx_file = tmp_path / 'labeler.onnx'
    result = export_onnx(model, str(onnx_file), batch_size=2)
    assert result.input_shape == [2, 3, 48, 64]
    files = _images(tmp_path / 'images', [(64, 64), (97, 70), (50, 131)])
    expected = inference_model(model, files, topk=3)

    # a directory, a fixed batch of 2 (the last one padded), top-3
    result = _standalone([onnx_file, tmp_path / 'images', '--topk', '3'],
                         blocked_env, tmp_path)
    lines = _lines(result)
    _assert_equal(lines, expected, files)
    assert np.array(lines[0]['token_labels']).shape == (3, 4)
    assert lines[0]['topk_names'][0] in CLASSES

    # the fusion rule of the head, here switched to cls_plus_max
    model.head.fusion = 'cls_plus_max'
    expected = inference_model(model, files[:1], topk=4)
    result = _standalone([onnx_file, files[0], '--topk', '4', '--fusion',
                          'cls_plus_max'], blocked_env, tmp_path)
    _assert_equal(_lines(result), expected, files[:1])


def test_dynamic_plain_model_keeps_the_image_size(blocked_env, tmp_path,
                                                  capsys):
    ckpt = _checkpoint(BASELINE, tmp_path / 'baseline.pth')
    # a test pipeline that keeps the image size (the demo's resizes to 64)
    model = init_model(str(BASELINE), ckpt, cfg_options={
        'test_dataloader.dataset.pipeline': [
            dict(type='LoadImageFromFile'), dict(type='PackInputs')]})
    onnx_file = tmp_path / 'baseline.onnx'
    export_onnx(model, str(onnx_file), dynamic=True)
    names = tmp_path / 'names.txt'
    names.write_text('\n'.join(CLASSES) + '\n')

    # that pipeline keeps the image size: multiples of 16 here
    files = _images(tmp_path / 'images', [(64, 64), (80, 48)])
    expected = inference_model(model, files, topk=2)
    result = _standalone([onnx_file, *files, '--topk', '2', '--class-names',
                          names], blocked_env, tmp_path)
    _assert_equal(_lines(result), expected, files)

    # other sizes are resized to the nearest multiples of 16: 70 x 41 -> 64
    # x 48 (w x h)
    (odd, ) = _images(tmp_path / 'odd', [(70, 41)], seed=1)
    ref_file = str(tmp_path / 'ref.png')
    Image.open(odd).convert('RGB').resize(
        (64, 48), Image.Resampling.BICUBIC).save(ref_file)
    expected = inference_model(model, [ref_file], topk=5)
    result = _standalone([onnx_file, odd], blocked_env, tmp_path)
    (line, ) = _lines(result)
    assert line['topk_labels'] == expected[0]['topk_labels']  # all 4
    np.testing.assert_allclose(line['topk_scores'],
                               expected[0]['topk_scores'], atol=1e-5)
    assert 'token_labels' not in line

    # bad input: one error line, exit status 2 (in process: the script's
    # main, loaded from its file)
    spec = importlib.util.spec_from_file_location('_onnx_inference', SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    broken = tmp_path / 'broken.png'
    broken.write_text('not an image')
    for args, message in [
        ([onnx_file, broken], 'Cannot read the image'),
        ([onnx_file, tmp_path / 'missing.png'], 'Image not found'),
        ([ref_file, odd], 'Cannot load the ONNX model'),
        ([onnx_file, odd, '--topk', '0'], '--topk must be at least 1'),
        ([onnx_file, odd, '--fusion', 'cls_plus_max'], 'needs a token model'),
        ([onnx_file, odd, '--class-names', ref_file], '--class-names'),
    ]:
        assert script.main([str(a) for a in args]) == 2
        captured = capsys.readouterr()
        lines = [ln for ln in captured.err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith('error: ')
        assert message in lines[0], lines[0]
        assert captured.out == ''
