"""Broken checkpoint files are refused in one line that names the file and
what is wrong with it, by every loader: safe_load, mmengine's loaders
(resume, load_from, init_cfg=Pretrained) and the converter tool."""
import importlib.util
import os
import re

import pytest
import torch
from mmengine.runner import CheckpointLoader

from stl_mm.models.backbones import FAN
from stl_mm.utils.checkpoint import (CorruptCheckpointError,
                                     diagnose_checkpoint_file, safe_load)
from stl_mm.utils.cli import explain

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TINY = dict(embed_dims=32, depth=2, num_heads=2, stem='conv')


def broken_files(tmp_path):
    """{kind: path} of a truncated zip, random bytes and an empty file."""
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.randn(64, 64)}}, good)
    data = good.read_bytes()
    files = {'truncated': tmp_path / 'truncated.pth',
             'random': tmp_path / 'random.pth',
             'empty': tmp_path / 'empty.pth'}
    files['truncated'].write_bytes(data[:len(data) // 2])
    files['random'].write_bytes(os.urandom(4096).replace(b'PK', b'pk')
                                .lstrip(b'\x80') or b'x')
    files['empty'].write_bytes(b'')
    return good, files


REASONS = {'truncated': 'truncated or damaged zip archive',
           'random': 'not a PyTorch checkpoint',
           'empty': 'the file is empty (0 bytes)'}


def test_diagnosis_and_safe_load(tmp_path):
    good, files = broken_files(tmp_path)
    assert diagnose_checkpoint_file(str(good)) is None
    assert safe_load(str(good))['state_dict']['w'].shape == (64, 64)
    for kind, path in files.items():
        assert REASONS[kind] in diagnose_checkpoint_file(str(path))
        with pytest.raises(CorruptCheckpointError) as info:
            safe_load(str(path))
        message = explain(info.value)
        assert str(path) in message and REASONS[kind] in message
        assert 'weights_only' not in message  # never torch's unsafe advice
        # the trusted (full pickle) path diagnoses alike
        with pytest.raises(CorruptCheckpointError):
            safe_load(str(path), trusted=True)


def test_mmengine_loaders_and_pretrained_init(tmp_path):
    _, files = broken_files(tmp_path)
    for kind, path in files.items():
        with pytest.raises(CorruptCheckpointError,
                           match=re.escape(REASONS[kind])):
            CheckpointLoader.load_checkpoint(str(path))
        model = FAN(TINY, init_cfg=dict(type='Pretrained',
                                        checkpoint=str(path)))
        with pytest.raises(CorruptCheckpointError) as info:
            model.init_weights()
        assert str(path) in explain(info.value)


def test_converter_tool(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        '_convert_fan', os.path.join(REPO,
                                     'tools/convert_official_checkpoint.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    _, files = broken_files(tmp_path)
    for kind, path in files.items():
        assert tool.main([str(path), str(tmp_path / 'out.pth')]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith('error: ') and str(path) in err
        assert REASONS[kind] in err and 'Traceback' not in err
    assert not (tmp_path / 'out.pth').exists()


def _classifier_state(arch, num_classes, token):
    """Classifier-format state dict of a zoo variant (meta tensors)."""
    with torch.device('meta'):
        backbone = FAN(arch).state_dict()
        state = {f'backbone.{k}': v for k, v in backbone.items()}
        dims = backbone['cls_token'].shape[-1]
        for name in ('fc', 'aux_fc') if token else ('fc', ):
            state[f'head.{name}.weight'] = torch.empty(num_classes, dims)
            state[f'head.{name}.bias'] = torch.empty(num_classes)
    return state


def test_misfit_names_shapes_variant_and_class_count():
    from stl_mm.models.utils.fan_checkpoint import (CheckpointMismatchError,
                                                    check_fits_model)
    model = _classifier_state('fan_small_12_p4_hybrid_token', 10, True)
    ckpt = _classifier_state('fan_tiny_8_p4_hybrid_token', 1000, True)
    with pytest.raises(CheckpointMismatchError) as info:
        check_fits_model(model, ckpt, 'other.pth')
    message = explain(info.value)
    assert "'head.fc.weight': checkpoint [1000, 192] != model [10, 384]" \
        in message and '279 of another shape, 62 missing' in message
    assert "FAN variant 'fan_tiny_8_p4_hybrid_token', 1000 classes, with " \
        'the token-label head' in message
    assert "FAN variant 'fan_small_12_p4_hybrid_token', 10 classes" in message
    # the same model fits; extra checkpoint keys are returned
    extra = dict(model, **{'backbone.extra': torch.empty(1)})
    assert check_fits_model(model, extra, 'x.pth') == ['backbone.extra']


def test_converter_suggests_the_token_variant(tmp_path, capsys):
    from stl_mm.models.utils import classifier_to_upstream
    spec = importlib.util.spec_from_file_location(
        '_convert_fan', os.path.join(REPO,
                                     'tools/convert_official_checkpoint.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    meta = _classifier_state('fan_tiny_8_p4_hybrid_token', 5, True)
    state = {k: torch.zeros(v.shape) for k, v in
             classifier_to_upstream(meta).items()}
    src = tmp_path / 'fan_tiny_token.pth.tar'
    torch.save({'state_dict': state}, src)
    assert tool.main([str(src), str(tmp_path / 'o.pth'), '--arch',
                      'fan_small_12_p4_hybrid_token']) == 2
    err = capsys.readouterr().err
    assert "arch='fan_tiny_8_p4_hybrid_token'" in err
