"""The one place that reads checkpoint files: formats, not models.

Every reader of weights in stl_mm (backbone ``init_cfg``, the STL teacher,
``init_model``, the test runner, the converter tool) goes through
:func:`read_checkpoint`. It knows the file *formats*:

- upstream timm training files (``*.pth.tar``) with ``state_dict`` /
  ``state_dict_ema`` / ``model`` entries, keys optionally prefixed with
  ``module.`` (DataParallel, DDP, timm's ModelEma);
- our mmengine checkpoints (``state_dict``, ``meta``, and EMAHook's
  ``ema_state_dict`` holding the raw weights ``module.``-prefixed);
- a bare state dict;

and the two *layouts* of classifier weights: timm's (``head.*``,
``aux_head.*``, the rest the network) and mmpretrain's classifier layout
(``backbone.*``, ``head.fc.*``, ``head.aux_fc.*``). Model-specific key
surgery (old spellings, fused projections) lives next to the model, as a
``load_state_dict`` pre-hook (see ``stl_mm.models.backbones.fan``).

Files are unpickled through :func:`stl_mm.utils.checkpoint.safe_load`.
"""
from typing import Dict, NamedTuple, Optional, Tuple

import torch

from .checkpoint import safe_load

__all__ = [
    'BACKBONE_PREFIX', 'CheckpointContents', 'read_checkpoint',
    'load_checkpoint_file', 'extract_state_dict', 'strip_module',
    'tensors_only', 'is_classifier_format', 'timm_to_classifier',
    'classifier_to_timm'
]

BACKBONE_PREFIX = 'backbone.'
#: timm classifier entries -> mmpretrain classifier entries
HEAD_MAP = (('head.', 'head.fc.'), ('aux_head.', 'head.aux_fc.'))


class CheckpointContents(NamedTuple):
    """What :func:`read_checkpoint` found in a file.

    Attributes:
        state_dict: the chosen weights as stored (keys and layout
            unchanged).
        which: the entry they came from (``'state_dict_ema'``, ...).
        meta: the file's ``meta`` dict (mmengine files) or ``None``.
        used_ema: whether the weights are averaged (EMA) weights.
    """
    state_dict: dict
    which: str
    meta: Optional[dict]
    used_ema: bool


def strip_module(state: dict) -> dict:
    """Drop the ``module.`` prefix DataParallel/DDP/EMA wrappers add."""
    out = {}
    for k, v in state.items():
        while k.startswith('module.'):
            k = k[len('module.'):]
        out[k] = v
    return out


def tensors_only(state: dict) -> dict:
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def extract_state_dict(ckpt, prefer_ema: bool = True) -> Tuple[dict, str]:
    """Pick the weights inside a loaded checkpoint object.

    Returns ``(state_dict, which)`` where ``which`` names the entry used.

    Precedence with ``prefer_ema=True``: upstream ``state_dict_ema``, then
    ``state_dict`` (for mmengine EMAHook checkpoints this already *is* the
    averaged model: EMAHook swaps the EMA weights into ``state_dict`` and
    keeps the raw ones, ``module.``-prefixed, in ``ema_state_dict``), then
    ``model``, then the object itself. With ``prefer_ema=False`` the raw
    weights are taken: ``state_dict`` for upstream files, the
    ``ema_state_dict`` entry of EMAHook checkpoints.
    """
    if not isinstance(ckpt, dict):
        raise TypeError(f'A checkpoint must be a dict, got {type(ckpt)}')
    is_upstream_ema = 'state_dict_ema' in ckpt
    is_mmengine_ema = 'ema_state_dict' in ckpt and 'state_dict' in ckpt
    if prefer_ema and is_upstream_ema:
        return ckpt['state_dict_ema'], 'state_dict_ema'
    if not prefer_ema and is_mmengine_ema:
        raw = {k[len('module.'):]: v
               for k, v in ckpt['ema_state_dict'].items()
               if k.startswith('module.')}
        return raw, 'ema_state_dict (raw weights of an EMAHook checkpoint)'
    for key in ('state_dict', 'model'):
        if key in ckpt and isinstance(ckpt[key], dict):
            return ckpt[key], key
    if 'state_dict_ema' in ckpt:
        return ckpt['state_dict_ema'], 'state_dict_ema'
    return ckpt, 'raw state dict'


def load_checkpoint_file(path: str, trusted: Optional[bool] = None):
    """The unpickled object of a local file or an http(s) URL (downloaded
    once to torch's hub cache), on the CPU."""
    path = str(path)
    if path.startswith(('http://', 'https://')):
        from mmengine.runner.checkpoint import CheckpointLoader
        return CheckpointLoader.load_checkpoint(path, map_location='cpu')
    return safe_load(path, map_location='cpu', trusted=trusted)


def read_checkpoint(path: str, prefer_ema: bool = True,
                    trusted: Optional[bool] = None) -> CheckpointContents:
    """Read a checkpoint file of any supported format.

    Args:
        path: local file or http(s) URL.
        prefer_ema: take the EMA weights when the file has them.
        trusted: passed to :func:`stl_mm.utils.checkpoint.safe_load`
            (``None`` reads ``STL_MM_TRUST_CHECKPOINTS``).

    Raises:
        TypeError: the file does not hold a dict.
    """
    ckpt = load_checkpoint_file(path, trusted=trusted)
    if not isinstance(ckpt, dict):
        raise TypeError(f'Checkpoint "{path}" holds a '
                        f'{type(ckpt).__name__}, not a dict of weights.')
    state, which = extract_state_dict(ckpt, prefer_ema=prefer_ema)
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else None
    # mmengine EMAHook files keep the averaged weights in 'state_dict'
    used_ema = which == 'state_dict_ema' or (
        which == 'state_dict' and 'ema_state_dict' in ckpt)
    return CheckpointContents(state, which, meta, used_ema)


def is_classifier_format(state: dict) -> bool:
    """Whether ``state`` is in mmpretrain's classifier layout."""
    return any(k.startswith(BACKBONE_PREFIX) for k in state)


def timm_to_classifier(state: Dict[str, torch.Tensor]) -> dict:
    """timm classifier layout -> mmpretrain classifier layout.

    ``module.`` prefixes and non-tensor entries are dropped; ``head.*``
    becomes ``head.fc.*``, ``aux_head.*`` becomes ``head.aux_fc.*``, every
    other key ``backbone.*``. Keys are otherwise unchanged.
    """
    out = {}
    for k, v in tensors_only(strip_module(state)).items():
        for src, dst in HEAD_MAP:
            if k.startswith(src):
                out[dst + k[len(src):]] = v
                break
        else:
            out[BACKBONE_PREFIX + k] = v
    return out


def classifier_to_timm(state: Dict[str, torch.Tensor]) -> dict:
    """Inverse of :func:`timm_to_classifier` (other keys dropped)."""
    out = {}
    for k, v in state.items():
        if k.startswith(BACKBONE_PREFIX):
            out[k[len(BACKBONE_PREFIX):]] = v
        elif k.startswith('head.aux_fc.'):
            out['aux_head.' + k[len('head.aux_fc.'):]] = v
        elif k.startswith('head.fc.'):
            out['head.' + k[len('head.fc.'):]] = v
    return out
