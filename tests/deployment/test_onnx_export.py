"""ONNX export (stl_mm.apis.onnx_export, tools/deployment/pytorch2onnx.py):
parity with the upstream reference outputs, dynamic shapes, metadata, the
attention translation and one-line errors for bad input.

The upstream fixtures are read from ``../shared/fixtures/official`` (or
``$STL_MM_FIXTURES``); those tests are skipped when the folder is absent.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

onnx = pytest.importorskip('onnx', reason='requirements/deploy.txt')
ort = pytest.importorskip('onnxruntime', reason='requirements/deploy.txt')

from stl_mm.apis import init_model  # noqa: E402
from stl_mm.apis.onnx_export import (ExportError, export_onnx,  # noqa: E402
                                     load_for_export, preprocess_steps,
                                     verify_onnx)

from stl_mm.testing import FIXTURES, REPO, synth_state_dict  # noqa: E402
from stl_mm.testing import NO_FIXTURES as _NO_FIXTURES  # noqa: E402

NO_FIXTURES = pytest.mark.skipif(not FIXTURES.is_dir(), reason=_NO_FIXTURES)
LABELER = REPO / 'configs/stl/demo/fan_demo_token_labeler.py'
STUDENT = REPO / 'configs/stl/demo/fan_demo_student.py'
MEAN = np.array([123.675, 116.28, 103.53], np.float32).reshape(1, 3, 1, 1)
STD = np.array([58.395, 57.12, 57.375], np.float32).reshape(1, 3, 1, 1)
TOL = 1e-4


def _tool(args, timeout=600):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    return subprocess.run(
        [sys.executable, 'tools/deployment/pytorch2onnx.py', *map(str, args)],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)


def _fixture(variant):
    return json.loads((FIXTURES / f'{variant}.json').read_text())


def _upstream_checkpoint(variant, seed, path):
    """An upstream-format (timm training) file with synthetic weights."""
    state = synth_state_dict(_fixture(variant)['keys'], seed)
    torch.save({'state_dict_ema': state, 'epoch': 349, 'arch': variant,
                'version': 2}, path)
    return path


def _probe_input(probe):
    """The probe's normalised input as the raw RGB 0..255 image the
    exported graph takes (it normalises inside)."""
    rng = np.random.default_rng(probe['seed'] + 1000)
    x = rng.standard_normal(probe['input_shape']).astype(np.float32)
    return (x * STD + MEAN).astype(np.float32)


def _run(path, image):
    session = ort.InferenceSession(str(path),
                                   providers=['CPUExecutionProvider'])
    return dict(zip([o.name for o in session.get_outputs()],
                    session.run(None, {'image': image})))


def _op_types(path):
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def _token_probe(shape):
    (probe, ) = [p for p in _fixture('fan_tiny_8_p4_hybrid_token')['probes']
                 if tuple(p['input_shape'][2:]) == shape]
    return probe


def _assert_matches_upstream(path, probe):
    ref = np.load(FIXTURES / probe['outputs'])
    got = _run(path, _probe_input(probe))
    assert got['cls_logits'].shape == ref['cls'].shape
    assert np.abs(got['cls_logits'] - ref['cls']).max() < TOL
    if 'aux' in ref:
        assert got['token_logits'].shape == ref['aux'].shape
        assert np.abs(got['token_logits'] - ref['aux']).max() < TOL
    else:
        assert 'token_logits' not in got


# ---------------------------------------------------------------------------
# upstream parity through the tool: a token variant, dynamic shape
# ---------------------------------------------------------------------------
@pytest.fixture(scope='module')
def token_export(tmp_path_factory):
    """The tool on an upstream .pth.tar (the weights of the 192x256 probe),
    dynamic, example input 224x224."""
    if not FIXTURES.is_dir():
        pytest.skip(f'upstream fixtures not found at {FIXTURES}')
    tmp = tmp_path_factory.mktemp('token_export')
    variant = 'fan_tiny_8_p4_hybrid_token'
    probe = _token_probe((192, 256))
    ckpt = _upstream_checkpoint(variant, probe['seed'],
                                tmp / f'{variant}.pth.tar')
    out = tmp / f'{variant}.onnx'
    result = _tool([variant, ckpt, '--output-file', out, '--dynamic-shape'])
    assert result.returncode == 0, result.stdout + result.stderr
    return out, result.stdout, probe


@NO_FIXTURES
def test_dynamic_token_variant_matches_upstream(token_export):
    path, stdout, probe = token_export
    # verified by the tool at two sizes (against PyTorch) ...
    verify = [line for line in stdout.splitlines()
              if line.startswith('verify ')]
    assert [line.split(':')[0] for line in verify] == [
        'verify 1x3x224x224', 'verify 2x3x256x288']
    assert all(line.endswith(': ok') for line in verify)
    # ... and equal to upstream at a third one
    _assert_matches_upstream(path, probe)


@NO_FIXTURES
def test_tool_writes_dynamic_dims_and_metadata(token_export):
    path, _, _ = token_export
    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [bool(d.dim_param) for d in dims] == [True, False, True, True]
    assert [o.name for o in model.graph.output] == ['cls_logits',
                                                    'token_logits']
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta['stl_mm.outputs']) == ['cls_logits',
                                                   'token_logits']
    assert json.loads(meta['stl_mm.fusion']) == dict(rule='cls',
                                                     max_weight=0.5)
    classes = json.loads(meta['stl_mm.classes'])
    assert len(classes) == 1000 and classes[0].startswith('tench')
    assert json.loads(meta['stl_mm.preprocess'])[0]['op'] == \
        'round_to_multiple'
    assert json.loads(meta['stl_mm.input'])['channels'] == 'RGB'


# ---------------------------------------------------------------------------
# upstream parity in process: a non-token variant, fixed shape, batch 2
# ---------------------------------------------------------------------------
@NO_FIXTURES
def test_non_token_variant_fixed_shape_matches_upstream(tmp_path):
    variant = 'fan_tiny_12_p16_224'
    probe = _fixture(variant)['probes'][0]
    ckpt = _upstream_checkpoint(variant, probe['seed'],
                                tmp_path / 'upstream.pth.tar')
    model = load_for_export(variant, str(ckpt))
    result = export_onnx(model, str(tmp_path / 'm.onnx'), batch_size=2)
    assert result.input_shape == [2, 3, 224, 224]
    assert result.outputs == ['cls_logits']
    # opset 18: fused attention is decomposed (no Attention node)
    ops = _op_types(result.path)
    assert {'MatMul', 'Softmax'} <= ops and 'Attention' not in ops
    _assert_matches_upstream(result.path, probe)
    # the config's test pipeline is what the standalone runtime replays
    steps = json.loads(result.metadata['stl_mm.preprocess'])
    assert steps == [
        dict(op='resize_edge', edge='short', size=224,
             interpolation='bicubic'),
        dict(op='center_crop', size=[224, 224])]


# ---------------------------------------------------------------------------
# preprocessing recipes, benchmark
# ---------------------------------------------------------------------------
def test_opset_23_exports_one_attention_node_and_benchmarks(tmp_path):
    # an STL student config: its student (no teacher) is exported
    torch.manual_seed(0)
    model = load_for_export(str(STUDENT), None)
    assert type(model).__name__ == 'ImageClassifier'  # not STLClassifier
    result = export_onnx(model, str(tmp_path / 'a.onnx'), opset=23)
    assert result.input_shape == [1, 3, 64, 64]  # the demo crop size
    assert 'Attention' in _op_types(result.path)
    (check, ) = verify_onnx(result.path, model, [(1, 64, 64)])
    assert set(check.max_abs_diff) == {'cls_logits', 'token_logits'}
    assert check.passed, check.max_abs_diff
    # tools/deployment/onnx_benchmark.py on that export, two thread counts
    bench = subprocess.run(
        [sys.executable, 'tools/deployment/onnx_benchmark.py', str(STUDENT),
         '--onnx', result.path, '--shape', '64', '64', '--batch-size', '1',
         '--threads', '1', '2', '--iters', '2', '--warmup', '1'],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert bench.returncode == 0, bench.stderr
    rows = [json.loads(line) for line in bench.stdout.splitlines()]
    assert [r['threads'] for r in rows] == [1, 2]
    assert all(r['onnxruntime_img_s'] > 0 and r['pytorch_img_s'] > 0
               for r in rows)


def test_preprocess_steps_follow_the_config():
    from mmengine.config import Config
    cfg = Config.fromfile(str(LABELER))
    cfg.test_dataloader.dataset.pipeline = [  # a test pipeline: no resize
        dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    steps, notes = preprocess_steps(cfg, (64, 64), dynamic=False)
    assert [s['op'] for s in steps] == ['resize_cover', 'center_crop']
    assert len(notes) == 1 and 'keeps the image size' in notes[0]
    steps, _ = preprocess_steps(cfg, (64, 64), dynamic=True)
    assert steps == [dict(op='round_to_multiple', divisor=16,
                          interpolation='bicubic')]
    cfg.test_dataloader.dataset.pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='ResizeEdge', scale=73, edge='short', backend='cv2'),
        dict(type='CenterCrop', crop_size=64),
        dict(type='PackInputs')]
    steps, notes = preprocess_steps(cfg, (64, 64), dynamic=False)
    assert steps == [dict(op='resize_edge', edge='short', size=73,
                          interpolation='bilinear'),
                     dict(op='center_crop', size=[64, 64])]
    assert len(notes) == 1 and 'cv2' in notes[0]
    # another size than the pipeline's: cover and crop to it
    steps, notes = preprocess_steps(cfg, (96, 128), dynamic=False)
    assert steps[0] == dict(op='resize_cover', size=[96, 128],
                            interpolation='bilinear')
    assert any('96x128' in n for n in notes)


# ---------------------------------------------------------------------------
# bad input: one error line, exit status 2
# ---------------------------------------------------------------------------
def _one_error_line(result):
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith('error: ')]
    assert len(errors) == 1, result.stderr
    assert 'Traceback' not in result.stderr
    return errors[0]


def test_shape_must_be_a_multiple_of_16(tmp_path):
    result = _tool(['fan_tiny_8_p4_hybrid_token', tmp_path / 'none.pth',
                    '--output-file', tmp_path / 'x.onnx', '--shape', '200',
                    '224'])
    line = _one_error_line(result)
    assert 'multiples of 16' in line and '--shape 208 224' in line
    assert not (tmp_path / 'x.onnx').exists()


@NO_FIXTURES
def test_checkpoint_of_another_variant_is_refused(tmp_path):
    ckpt = _upstream_checkpoint('fan_tiny_12_p16_224', 0,
                                tmp_path / 'other.pth.tar')
    result = _tool(['fan_tiny_8_p4_hybrid_token', ckpt, '--output-file',
                    tmp_path / 'x.onnx'])
    line = _one_error_line(result)
    assert "'fan_tiny_12_p16_224'" in line and 'MODEL' in line
    assert not (tmp_path / 'x.onnx').exists()


def test_token_checkpoint_for_a_plain_model_is_refused(tmp_path):
    torch.manual_seed(0)
    model = init_model('fan_tiny_8_p4_hybrid_token')
    path = tmp_path / 'token.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    with pytest.raises(ExportError, match="'fan_tiny_8_p4_hybrid_token'"):
        load_for_export('fan_tiny_8_p4_hybrid', str(path))
    with pytest.raises(ExportError, match='--opset 17 is not supported'):
        export_onnx(model, str(tmp_path / 'x.onnx'), opset=17)
    with pytest.raises(ExportError, match='--batch-size must be at least 1'):
        export_onnx(model, str(tmp_path / 'x.onnx'), batch_size=0)
    with pytest.raises(ExportError, match='neither a FAN variant'):
        load_for_export('fan_nonexistent', str(path))
    with pytest.raises(ExportError, match='Checkpoint not found'):
        load_for_export('fan_tiny_8_p4_hybrid', str(tmp_path / 'no.pth'))
