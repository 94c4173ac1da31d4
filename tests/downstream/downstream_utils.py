"""Fixtures and helpers shared by the downstream (mmseg/mmdet) tests.

Imported by the test modules (pytest collects fixtures imported into a test
module), so each module generates its own data once.
"""
import argparse
import json
import math
import textwrap
from pathlib import Path
from typing import Dict, List
from unittest import mock

import pytest
import torch

from stl_mm.testing import REPO, run_tool

SEG_DEMO = REPO / 'configs/segmentation/segformer_fan-demo_1xb2-40it_democity-128x256.py'  # noqa: E501
DET_DEMO = REPO / 'configs/detection/cascade-mask-rcnn_fan-demo_fpn_1xb2-40it_demococo.py'  # noqa: E501
#: the custom FAN-Hybrid of the demo configs
TINY_ARCH = dict(embed_dims=32, depth=2, num_heads=2, stem='hybrid',
                 hybrid_depths=[1, 1], dense_index=1)


@pytest.fixture(scope='module')
def scene_root(tmp_path_factory) -> Path:
    """Generated Cityscapes- and COCO-format scenes (16 train / 4 val,
    128x256): ``<root>/cityscapes``, ``<root>/coco``."""
    root = tmp_path_factory.mktemp('scenes')
    run_tool(['tools/make_demo_data.py', str(root), '--tasks', 'seg', 'det',
              '--seed', '0'])
    return root


@pytest.fixture(scope='module')
def stl_checkpoints(tmp_path_factory) -> Dict[str, Path]:
    """A phase-2 STL student of the tiny arch in both file formats.

    ``ours``: ``{'meta', 'state_dict'}`` of an mmpretrain ``ImageClassifier``
    (``stl_mm.FAN`` + ``stl_mm.TokenLabelHead``). ``upstream``: a timm-style
    ``.pth.tar`` with upstream key names, the same weights as
    ``state_dict_ema`` and zeros as ``state_dict`` (the EMA must win), and
    an ``argparse.Namespace``. ``state``: the classifier state dict.
    """
    from mmengine.registry import MODELS, DefaultScope

    from stl_mm.models.utils.fan_checkpoint import classifier_to_upstream
    root = tmp_path_factory.mktemp('stl_ckpt')
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(
            type='ImageClassifier',
            backbone=dict(type='stl_mm.FAN', arch=TINY_ARCH,
                          out_type='cls_and_patch'),
            head=dict(type='stl_mm.TokenLabelHead', num_classes=5,
                      in_channels=TINY_ARCH['embed_dims'])))
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ours = root / 'stl_student.pth'
    torch.save({'meta': {}, 'state_dict': state}, ours)
    upstream_state = classifier_to_upstream(state)
    assert 'aux_head.weight' in upstream_state
    upstream = root / 'stl_student.pth.tar'
    torch.save({'state_dict': {k: torch.zeros_like(v)
                               for k, v in upstream_state.items()},
                'state_dict_ema': upstream_state,
                'args': argparse.Namespace(model='custom', epochs=300)},
               upstream)
    return dict(ours=ours, upstream=upstream, state=state)


def build_model(config: Path, **backbone):
    """Build a config's model in its default scope, with backbone
    overrides."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    cfg = Config.fromfile(str(config))
    cfg.model.backbone.update(backbone)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(cfg.model)


def init_and_capture(model) -> List[str]:
    """``model.init_weights()``; returns what the FAN backbone logged."""
    messages = []
    with mock.patch('stl_mm.models.backbones.fan.print_log',
                    lambda msg, **kwargs: messages.append(msg)):
        model.init_weights()
    return messages


def assert_backbone_equals(model, classifier_state: dict) -> None:
    """Every ``backbone.*`` tensor of the checkpoint arrived in the model."""
    own = model.backbone.state_dict()
    keys = [k for k in classifier_state if k.startswith('backbone.')]
    assert keys
    for key in keys:
        assert torch.equal(own[key[len('backbone.'):]],
                           classifier_state[key]), key


def child_config(tmp_path: Path, base: Path, body: str) -> Path:
    """A config inheriting ``base`` with extra settings."""
    path = tmp_path / f'child_{base.name}'
    path.write_text(f'_base_ = [{str(base)!r}]\n' + textwrap.dedent(body))
    return path


def read_scalars(work_dir: Path) -> List[dict]:
    """The LocalVisBackend scalars of a run (one dict per logged step)."""
    files = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert files, f'no scalars.json under {work_dir}'
    return [json.loads(line) for line in files[-1].read_text().splitlines()
            if line.strip()]


def assert_finite_losses(scalars: List[dict]) -> List[float]:
    losses = [s['loss'] for s in scalars if 'loss' in s]
    assert losses, 'no training loss was logged'
    assert all(math.isfinite(v) for v in losses), losses
    return losses
