"""Check (and convert) the checkpoint an evaluation run will load.

The Runner loads ``load_from`` non-strictly: weights that do not fit the
model only produce a log warning, and the run then reports the accuracy of
randomly initialised layers. ``tools/test.py`` calls
:func:`prepare_checkpoint` first, so that

- an upstream FAN/STL ``.pth.tar`` (timm layout, EMA weights preferred) is
  converted to the classifier layout the config's model has;
- a checkpoint that lacks weights of the model is an error naming them.
"""
import os
import os.path as osp
from typing import List

import torch
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from stl_mm.models.backbones.fan import to_classifier_format
from stl_mm.utils.checkpoint_reader import read_checkpoint, strip_module

_UPSTREAM_ROOTS = ('patch_embed.', 'blocks.', 'cls_attn_blocks.',
                   'pos_embed.', 'pos_embeder.', 'cls_token')


class CheckpointMismatchError(ValueError):
    """The checkpoint does not hold the weights the model needs."""

    user_facing = True  # tools print the message alone (stl_mm.utils.cli)


def _is_upstream_fan(keys: List[str]) -> bool:
    return (not any(k.startswith('backbone.') for k in keys)
            and any(k.startswith(_UPSTREAM_ROOTS) for k in keys))


def prepare_checkpoint(model: torch.nn.Module, path: str,
                       work_dir: str) -> str:
    """Return the path the Runner should load for ``model``.

    Args:
        model: the built model (possibly wrapped).
        path: the checkpoint given by the user.
        work_dir: where a converted copy of an upstream file is written.

    Raises:
        CheckpointMismatchError: weights of ``model`` are missing from the
            checkpoint.
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
    expected = set(model.state_dict())
    missing = sorted(expected - set(keys))
    if missing:
        raise CheckpointMismatchError(
            f'The checkpoint "{path}" ({which}) does not fit the model of '
            f'this config: {len(missing)} of its weights are missing, e.g. '
            f'{missing[:5]}. Check that config and checkpoint belong to the '
            'same architecture and number of classes.')
    unexpected = sorted(set(keys) - expected)
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
