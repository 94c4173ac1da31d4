"""Upstream FAN and LV-ViT variant names and the configs that build them.

The same names are the model names of the model index
(``configs/*/metafile.yml``), so ``mmpretrain.get_model(name)`` builds the
same model as :func:`stl_mm.apis.init_model` (``tests/test_model_index.py``
checks that the two agree).
"""
from pathlib import Path
from typing import Dict

from stl_mm.utils.resources import config_root, find_config

#: the configs folder of this install (source checkout or the installed
#: package's ``stl_mm/.mim/configs``); see :mod:`stl_mm.utils.resources`
CONFIG_ROOT = config_root()

#: upstream variant name -> config file (relative to ``configs/``)
VARIANT_CONFIGS: Dict[str, str] = {
    'fan_tiny_12_p16_224': 'fan/fan-tiny-12-p16_8xb128-310e_in1k.py',
    'fan_small_12_p16_224': 'fan/fan-small-12-p16_8xb128-310e_in1k.py',
    'fan_base_18_p16_224': 'fan/fan-base-18-p16_8xb128-310e_in1k.py',
    'fan_large_24_p16_224': 'fan/fan-large-24-p16_8xb128-310e_in1k.py',
    'fan_tiny_8_p4_hybrid': 'fan/fan-tiny-8-p4-hybrid_8xb128-310e_in1k.py',
    'fan_small_12_p4_hybrid':
    'fan/fan-small-12-p4-hybrid_8xb128-310e_in1k.py',
    'fan_base_16_p4_hybrid': 'fan/fan-base-16-p4-hybrid_8xb128-310e_in1k.py',
    'fan_large_16_p4_hybrid':
    'fan/fan-large-16-p4-hybrid_8xb128-310e_in1k.py',
    # the token variants: the STL token labelers (phase 1)
    'fan_tiny_8_p4_hybrid_token':
    'stl/stl-labeler_fan-tiny-8-p4-hybrid-token_8xb128-360e_in1k.py',
    'fan_small_12_p4_hybrid_token':
    'stl/stl-labeler_fan-small-12-p4-hybrid-token_8xb128-360e_in1k.py',
    'fan_base_16_p4_hybrid_token':
    'stl/stl-labeler_fan-base-16-p4-hybrid-token_32xb64-360e_in1k.py',
    'fan_large_16_p4_hybrid_token':
    'stl/stl-labeler_fan-large-16-p4-hybrid-token_32xb64-360e_in1k.py',
    'fan_small_12_p16_224_se_attn':
    'fan/fan-small-12-p16-se-attn_8xb128-310e_in1k.py',
    'fan_Xlarge_16_p4_hybrid':
    'fan/fan-xlarge-16-p4-hybrid_8xb128-310e_in1k.py',
    'fan_swin_tiny_patch4_window7_224':
    'fan/fan-swin-tiny-p4-w7_8xb128-310e_in1k.py',
    'fan_swin_small_patch4_window7_224':
    'fan/fan-swin-small-p4-w7_8xb128-310e_in1k.py',
    'fan_swin_base_patch4_window7_224':
    'fan/fan-swin-base-p4-w7_8xb128-310e_in1k.py',
    'fan_swin_large_patch4_window7_224':
    'fan/fan-swin-large-p4-w7_8xb128-310e_in1k.py',
    # LV-ViT (Token Labeling); *_384/_448/_512: the released fine-tuned files
    **{f'lvvit_{v}': f'lvvit/token-labeling_lvvit-{v}_8xb128-300e_in1k.py'
       for v in 'tsml'},
    **{f'lvvit_{v}_{r}': f'lvvit/token-labeling_lvvit-{v}_8xb64-ft-30e_in1k-'
       f'{r}px.py' for v, r in (('s', 384), ('m', 384), ('m', 448),
                                ('l', 448), ('l', 512))},
}


def variant_config(name: str) -> Path:
    """Path of the config that builds the upstream variant ``name``."""
    name = canonical_variant(name)
    if name not in VARIANT_CONFIGS:
        raise KeyError(f'Unknown FAN variant "{name}"; choose one of '
                       f'{sorted(VARIANT_CONFIGS)} or pass a config file.')
    return find_config(VARIANT_CONFIGS[name])


def canonical_variant(name: str) -> str:
    """``name`` spelt as in :data:`VARIANT_CONFIGS` when it matches one up
    to case (the model hub lists names in lower case, e.g.
    ``fan_xlarge_16_p4_hybrid``), else ``name`` unchanged."""
    if not isinstance(name, str) or name in VARIANT_CONFIGS:
        return name
    lower = {key.lower(): key for key in VARIANT_CONFIGS}
    return lower.get(name.lower(), name)
