"""Check (and convert) the checkpoint an evaluation run will load.

The Runner loads ``load_from`` non-strictly: weights that do not fit the
model only produce a log warning, and the run then reports the accuracy of
randomly initialised layers. ``tools/test.py`` calls
:func:`prepare_checkpoint` first, so that

- an upstream FAN/STL ``.pth.tar`` (timm layout, EMA weights preferred) is
  converted to the classifier layout the config's model has;
- a checkpoint that lacks weights of the model, or holds them in other
  shapes, is an error naming them and what the file holds (variant, class
  count).
"""
import os
import os.path as osp
from typing import List

import torch
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from stl_mm.models.backbones.fan import (CheckpointMismatchError,
                                         check_fits_model,
                                         to_classifier_format)
from stl_mm.utils.checkpoint_reader import read_checkpoint, strip_module

_UPSTREAM_ROOTS = ('patch_embed.', 'blocks.', 'cls_attn_blocks.',
                   'pos_embed.', 'pos_embeder.', 'cls_token', 'layers.')


def _is_upstream_fan(keys: List[str]) -> bool:
    return (not any(k.startswith('backbone.') for k in keys)
            and any(k.startswith(_UPSTREAM_ROOTS) for k in keys))


def _head_hint(model_state: dict, state: dict) -> str:
    """The fix for a checkpoint whose head has another class count (e.g. an
    ImageNet-22K file, 21841 classes); '' when the heads agree."""
    head, ours = state.get('head.fc.weight'), model_state.get('head.fc.weight')
    if head is None or ours is None or head.shape[0] == ours.shape[0]:
        return ''
    return (f' The checkpoint\'s head has {head.shape[0]} classes: set '
            f'--cfg-options model.head.num_classes={head.shape[0]} (and a '
            'test set of that label space), or use a checkpoint fine-tuned '
            'to the config\'s classes.')


def prepare_checkpoint(model: torch.nn.Module, path: str,
                       work_dir: str) -> str:
    """Return the path the Runner should load for ``model``.

    Args:
        model: the built model (possibly wrapped).
        path: the checkpoint given by the user.
        work_dir: where a converted copy of an upstream file is written.

    Raises:
        CheckpointMismatchError: weights of ``model`` are missing from the
            checkpoint or have other shapes.
    """
    model = model.module if is_model_wrapper(model) else model
    contents = read_checkpoint(path, prefer_ema=True)
    state, which = contents.state_dict, contents.which
    keys = list(strip_module(state))
    converted = None
    if _is_upstream_fan(keys):
        state = to_classifier_format(state)
        keys = list(state)
        converted = osp.join(
            work_dir, 'converted_' + osp.basename(path).split('.pth')[0] +
            '.pth')
    state = dict(zip(keys, state.values()))
    model_state = model.state_dict()
    unexpected = check_fits_model(model_state, state, path,
                                  note=_head_hint(model_state, state))
    if unexpected:
        print_log(
            f'{len(unexpected)} weights of "{path}" are not used by this '
            f'model, e.g. {unexpected[:5]}', logger='current')
    if converted is None:
        return path
    os.makedirs(work_dir, exist_ok=True)
    torch.save({'meta': {'source': path, 'source_entry': which},
                'state_dict': state}, converted)
    print_log(f'Converted the upstream checkpoint "{path}" ({which}) to '
              f'"{converted}"', logger='current')
    return converted
