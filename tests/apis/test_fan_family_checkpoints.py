"""init_model with the other released FAN files: ImageNet-22K heads (21841
classes), 384x384 inputs, 1000 classes from a 22K file (backbone only),
FAN-Swin upstream files; and tools/test.py's checkpoint check on them.

Checkpoints are synthesized in timm's training-file layout
(``state_dict``/``state_dict_ema`` with ``module.`` prefixes).
"""
import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger

from stl_mm.apis import init_model
from stl_mm.engine.checkpoint_check import (CheckpointMismatchError,
                                            prepare_checkpoint)
from stl_mm.models.backbones import FAN
from stl_mm.models.utils import classifier_to_upstream

from stl_mm.testing import torch_threads, FIXTURES, NO_FIXTURES, synth_state_dict
HYBRID = 'fan_tiny_8_p4_hybrid'
IN22K = 21841


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def _timm_file(path, state, arch):
    module = {'module.' + k: v for k, v in state.items()}
    torch.save({'epoch': 89, 'arch': arch, 'version': 2,
                'state_dict': {k: torch.zeros_like(v)
                               for k, v in module.items()},
                'state_dict_ema': module,
                'args': argparse.Namespace(model=arch, num_classes=IN22K)},
               path)
    return str(path)


@pytest.fixture(scope='module')
def in22k_file(tmp_path_factory):
    """A timm-style ImageNet-22K file of fan_tiny_8_p4_hybrid (upstream key
    names, 21841-class head) and its upstream state."""
    torch.manual_seed(0)
    backbone = FAN(HYBRID)
    g = torch.Generator().manual_seed(1)
    state = {k: (v + 0.02 * torch.randn(v.shape, generator=g)
                 if v.is_floating_point() else v)
             for k, v in backbone.state_dict().items()}
    state['head.weight'] = 0.05 * torch.randn(IN22K, 192, generator=g)
    state['head.bias'] = 0.05 * torch.randn(IN22K, generator=g)
    path = tmp_path_factory.mktemp('in22k') / 'fan_hybrid_tiny_in22k.pth.tar'
    return _timm_file(path, state, HYBRID), state


def _reference_logits(state, x):
    """The upstream classifier's computation: backbone class token, then
    the linear head."""
    backbone = FAN(HYBRID).eval()
    backbone.load_state_dict({k: v for k, v in state.items()
                              if not k.startswith('head.')})
    with torch.no_grad():
        (cls, ) = backbone(x)
    return F.linear(cls, state['head.weight'], state['head.bias'])


def _capture(logger_name='current'):
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep()
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    return records, lambda: logger.removeHandler(handler)


def test_22k_head_is_taken_from_the_checkpoint_and_runs_at_384(in22k_file):
    path, state = in22k_file
    records, done = _capture()
    try:
        model = init_model(HYBRID, checkpoint=path)
    finally:
        done()
    messages = [r.getMessage() for r in records]
    assert sum(f'has a {IN22K}-class head (the config has 1000)' in m
               for m in messages) == 1
    assert model.head.num_classes == IN22K
    assert model.dataset_meta == {}  # no names for the 22K label space
    x = torch.randn(1, 3, 384, 384)
    with torch.no_grad():
        logits = model(x, mode='tensor')
    assert logits.shape == (1, IN22K)
    torch.testing.assert_close(logits, _reference_logits(state, x),
                               rtol=0, atol=1e-4)


def test_1000_classes_from_a_22k_file_gets_backbone_and_fresh_head(
        in22k_file):
    path, state = in22k_file
    records, done = _capture()
    try:
        model = init_model(HYBRID, checkpoint=path, num_classes=1000)
    finally:
        done()
    warnings = [r.getMessage() for r in records
                if r.levelno == logging.WARNING]
    assert any('loading the backbone only; the head is freshly initialised'
               in m for m in warnings)
    assert model.head.num_classes == 1000
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert not torch.equal(model.head.fc.weight[:10],
                           state['head.weight'][:10, :])


def test_explicit_num_classes_matching_the_file_loads_everything(
        in22k_file):
    path, state = in22k_file
    model = init_model(HYBRID, checkpoint=path, num_classes=IN22K)
    assert torch.equal(model.head.fc.weight, state['head.weight'])


def test_tools_test_check_on_22k_file(in22k_file, tmp_path):
    """tools/test.py's check: a 1000-class config and a 22K file is one
    clear error naming the class counts; a 21841-class model converts."""
    path, _ = in22k_file
    model = init_model(HYBRID)
    with pytest.raises(CheckpointMismatchError,
                       match=r'(?s)head.fc.weight.*\[21841, 192\].*num_classes'):
        prepare_checkpoint(model, path, str(tmp_path))
    model22k = init_model(HYBRID, checkpoint=path)
    converted = prepare_checkpoint(model22k, path, str(tmp_path))
    assert Path(converted).is_file()


def test_backbone_init_cfg_takes_the_22k_backbone(in22k_file):
    path, state = in22k_file
    backbone = FAN(HYBRID, init_cfg=dict(type='Pretrained', checkpoint=path))
    backbone.init_weights()
    for k, v in backbone.state_dict().items():
        assert torch.equal(v, state[k]), k


# ---------------------------------------------------------------------------
# FAN-Swin upstream files
# ---------------------------------------------------------------------------
@pytest.mark.skipif(not FIXTURES.is_dir(), reason=NO_FIXTURES)
def test_fan_swin_upstream_file_through_init_model(tmp_path):
    """An upstream FAN-Swin-T training file (all its keys, attn_mask
    buffers included) loads by variant name into an mmpretrain classifier whose
    logits equal the upstream probe; tools/test.py's check accepts it."""
    variant = 'fan_swin_tiny_patch4_window7_224'
    fixture = json.loads((FIXTURES / f'{variant}.json').read_text())
    (probe, ) = fixture['probes']
    state = synth_state_dict(fixture['keys'], probe['seed'])
    path = _timm_file(tmp_path / 'fan_swin_tiny.pth.tar', state, variant)
    model = init_model(variant, checkpoint=path)
    rng = np.random.default_rng(probe['seed'] + 1000)
    x = torch.from_numpy(
        rng.standard_normal(probe['input_shape']).astype(np.float32))
    with torch.no_grad():
        logits = model(x, mode='tensor')
    ref = np.load(FIXTURES / probe['outputs'])['cls']
    assert np.abs(logits.numpy() - ref).max() < 1e-4
    converted = prepare_checkpoint(model, path, str(tmp_path / 'work'))
    saved = torch.load(converted, map_location='cpu')['state_dict']
    assert 'backbone.layers.0.blocks.1.attn_mask' in saved
    again = classifier_to_upstream(saved)
    assert set(again) == {k for k, _, _ in fixture['keys']}
