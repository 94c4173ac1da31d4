"""LV-ViT as an STL student under a FAN teacher (online token labels), and
the build-time error when the token grids disagree."""
import warnings

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

from stl_mm.testing import REPO
from stl_mm.registry import MODELS
from stl_mm.utils import register_all_modules

STUDENT = REPO / ('configs/lvvit/demo/'
                  'stl_lvvit-demo_fan-demo-teacher_1xb16-12e_demo-64px.py')


def _build(**backbone):
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(str(STUDENT))
    model = cfg.model.to_dict()
    model['teacher']['checkpoint'] = None
    model['backbone'].update(backbone)
    with DefaultScope.overwrite_default_scope('mmpretrain'), \
            warnings.catch_warnings():
        warnings.simplefilter('ignore')  # random teacher
        return MODELS.build(model)


def test_lvvit_student_learns_from_fan_teacher():
    torch.manual_seed(0)
    model = _build()
    assert type(model.backbone).__name__ == 'LVViT'
    assert type(model.teacher.model.backbone).__name__ == 'FAN'
    inputs = torch.randn(2, 3, 64, 64)
    samples = [DataSample().set_gt_label(i) for i in range(2)]
    losses = model.loss(inputs, samples)
    sum(losses.values()).backward()
    assert losses['loss_dense'].item() > 0
    assert model.backbone.blocks[0].attn.qkv.weight.grad is not None


def test_mismatched_token_grids_are_a_clear_error():
    with pytest.raises(ValueError, match=r'4 student tokens \(LVViT\) but '
                       r'16 teacher tokens \(FAN\).*patch_size=16'):
        _build(patch_size=32, img_size=64)
