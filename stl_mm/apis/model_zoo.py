"""Upstream FAN and LV-ViT variant names and the configs that build them."""
from pathlib import Path
from typing import Dict

CONFIG_ROOT = Path(__file__).resolve().parents[2] / 'configs'

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
    if name not in VARIANT_CONFIGS:
        raise KeyError(f'Unknown FAN variant "{name}"; choose one of '
                       f'{sorted(VARIANT_CONFIGS)} or pass a config file.')
    path = CONFIG_ROOT / VARIANT_CONFIGS[name]
    if not path.is_file():
        raise FileNotFoundError(
            f'Config {path} for "{name}" is missing: stl_mm must be used '
            'from a source checkout (pip install -e .) so that configs/ is '
            'available.')
    return path
