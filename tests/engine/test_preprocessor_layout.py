"""check_preprocessor_layout: a config whose data preprocessor would not
normalise (missing, or a partial dict made by --cfg-options) is refused with
one line naming the key; the shipped layouts pass."""
from pathlib import Path

import pytest
from mmengine.config import Config

from stl_mm.engine import check_preprocessor_layout

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
LVVIT_DEMO = CONFIGS / 'lvvit/demo/token-labeling_lvvit-demo_1xb16-12e_demo-64px.py'
SEG = CONFIGS / 'lvvit/upernet_lvvit-s_8xb2-160k_ade20k-512x512.py'


def test_shipped_layouts_pass():
    for path in (LVVIT_DEMO, SEG):
        check_preprocessor_layout(Config.fromfile(str(path)))


def test_missing_preprocessor_is_refused():
    cfg = Config.fromfile(str(LVVIT_DEMO))
    cfg.model.pop('data_preprocessor')
    with pytest.raises(ValueError, match='no data preprocessor') as info:
        check_preprocessor_layout(cfg)
    assert info.value.user_facing


def test_partial_preprocessor_from_cfg_options_is_refused():
    cfg = Config.fromfile(str(LVVIT_DEMO))
    cfg.model.pop('data_preprocessor')
    # what --cfg-options model.data_preprocessor.pad_size_divisor=16 builds
    cfg.merge_from_dict({'model.data_preprocessor.pad_size_divisor': 16})
    with pytest.raises(ValueError,
                       match=r'model\.data_preprocessor has no mean/std'):
        check_preprocessor_layout(cfg)


def test_same_dict_at_top_level_and_in_model_is_fine():
    cfg = Config.fromfile(str(SEG))
    cfg.data_preprocessor = dict(cfg.model.data_preprocessor)
    check_preprocessor_layout(cfg)
    cfg.data_preprocessor['pad_val'] = 1
    with pytest.raises(ValueError, match='would be ignored'):
        check_preprocessor_layout(cfg)
