"""Convert an upstream (NVlabs FAN/STL, timm) FAN checkpoint for stl_mm."""
import os
import os.path as osp
import warnings
from typing import Optional

import torch

from stl_mm.models.backbones.fan import (FAN, check_state_matches,
                                         find_matching_arch, nearest_arch,
                                         to_classifier_format)
from stl_mm.utils.checkpoint_reader import (BACKBONE_PREFIX,
                                            read_checkpoint)

__all__ = ['convert_fan_checkpoint']


def _meta_state(arch: str) -> dict:
    with torch.device('meta'):
        return FAN(arch).state_dict()


def convert_fan_checkpoint(src: str, dst: str, arch: Optional[str] = None,
                           ema: bool = True,
                           trusted: Optional[bool] = None) -> dict:
    """Write ``{'meta': {'arch', 'source', 'ema', 'source_entry'},
    'state_dict': <classifier layout>}`` to ``dst`` and return it.

    The variant is detected from the weight shapes, or checked against
    ``arch``.

    Raises:
        ValueError: no FAN weights in ``src``, no variant fits them, or
            they do not fit ``arch`` (the message names the keys and the
            variant that fits); nothing is written then.
    """
    contents = read_checkpoint(src, prefer_ema=ema, trusted=trusted)
    state = to_classifier_format(contents.state_dict)
    which = contents.which
    if not any(k.startswith(BACKBONE_PREFIX) for k in state):
        raise ValueError(f'{src}: no FAN weights found (entry {which!r}).')
    detected = find_matching_arch(state)
    if arch is None:
        if detected is None:
            # report the keys that do not fit the closest variant
            closest, _ = nearest_arch(state)
            check_state_matches(_meta_state(closest), state,
                                f'{closest} (the closest variant)')
        arch = detected
    else:
        check_state_matches(_meta_state(arch), state, arch)
        has_aux = any(k.startswith('head.aux_fc.') for k in state)
        if has_aux != arch.endswith('_token') and detected is not None:
            warnings.warn(f'the file {"has" if has_aux else "lacks"} an '
                          f"aux head; its closest name is '{detected}'")
    out = {
        'meta': {'arch': arch, 'source': osp.abspath(src),
                 'ema': contents.used_ema, 'source_entry': which},
        'state_dict': state,
    }
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(out, dst)
    return out
