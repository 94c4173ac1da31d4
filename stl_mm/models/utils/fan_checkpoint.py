"""Reading FAN checkpoints of every supported origin.

All loaders return the *classifier format*, the layout an mmpretrain
classifier built with the ``stl_mm.FAN`` backbone holds:

- ``backbone.<upstream key>`` for every backbone entry,
- ``head.fc.{weight,bias}`` for the upstream ``head.*``,
- ``head.aux_fc.{weight,bias}`` for the upstream ``aux_head.*`` (STL token
  variants).

Supported inputs: upstream timm training files (``*.pth.tar`` with
``state_dict`` / ``state_dict_ema`` / ``model``, keys optionally prefixed
with ``module.``, the legacy ``pos_embeder`` spelling and fused class
attention ``qkv``), stl_mm/mmengine checkpoints (``state_dict`` already in
classifier format, possibly with an EMAHook ``ema_state_dict``) and raw state
dicts of either layout.
"""
import functools
import re
from typing import Dict, List, Optional, Tuple

import torch

from stl_mm.utils.checkpoint import safe_load

__all__ = [
    'load_fan_checkpoint', 'upstream_to_classifier', 'classifier_to_upstream',
    'find_matching_arch', 'check_state_matches', 'extract_state_dict',
    'to_classifier_format', 'nearest_arch', 'CheckpointMismatchError',
    'describe_checkpoint', 'check_fits_model'
]

BACKBONE_PREFIX = 'backbone.'
_HEAD_MAP = (('head.', 'head.fc.'), ('aux_head.', 'head.aux_fc.'))
# keys a backbone may lack in a checkpoint: detection/dense extras
OPTIONAL_BACKBONE_PREFIXES = ('learnable_downsample.', 'out_norms.')
# unexpected checkpoint keys under these prefixes mean another structure
_STRUCTURAL_PREFIXES = ('cls_token', 'patch_embed.', 'pos_embed.', 'blocks.',
                        'cls_attn_blocks.', 'norm.', 'layers.')


class CheckpointMismatchError(ValueError):
    """The checkpoint does not hold the weights the model needs."""

    user_facing = True  # tools print the message alone (stl_mm.utils.cli)


def _strip_module(state: dict) -> dict:
    """Drop the ``module.`` prefix DataParallel/DDP/EMA wrappers add."""
    out = {}
    for k, v in state.items():
        while k.startswith('module.'):
            k = k[len('module.'):]
        out[k] = v
    return out


def _tensors_only(state: dict) -> dict:
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


def _split_fused_qkv(state: dict, prefix: str = '') -> dict:
    """``cls_attn_blocks.N.attn.qkv.*`` -> ``q``/``k``/``v`` in thirds."""
    pattern = re.compile(
        r'^' + re.escape(prefix) + r'(cls_attn_blocks\.\d+\.attn\.)qkv\.'
        r'(weight|bias)$')
    out = {}
    for k, v in state.items():
        m = pattern.match(k)
        if m is None:
            out[k] = v
            continue
        if v.shape[0] % 3:
            raise ValueError(f'Cannot split fused {k} of shape '
                             f'{tuple(v.shape)} into q, k, v thirds')
        for name, part in zip('qkv', v.chunk(3, dim=0)):
            out[f'{prefix}{m.group(1)}{name}.{m.group(2)}'] = part.clone()
    return out


def _fix_legacy(state: dict, prefix: str = '') -> dict:
    """Legacy spellings: ``pos_embeder`` and fused class-attention qkv."""
    legacy = prefix + 'pos_embeder.'
    state = {(prefix + 'pos_embed.' + k[len(legacy):]
              if k.startswith(legacy) else k): v
             for k, v in state.items()}
    return _split_fused_qkv(state, prefix)


def upstream_to_classifier(state: Dict[str, torch.Tensor]) -> dict:
    """Upstream (timm-style) FAN state dict -> classifier format.

    Accepts ``module.``-prefixed keys, ``pos_embeder.*`` and fused
    ``cls_attn_blocks.N.attn.qkv.*``. ``head.*`` becomes ``head.fc.*``,
    ``aux_head.*`` becomes ``head.aux_fc.*``, the rest ``backbone.*``.
    """
    state = _fix_legacy(_tensors_only(_strip_module(state)))
    out = {}
    for k, v in state.items():
        for src, dst in _HEAD_MAP:
            if k.startswith(src):
                out[dst + k[len(src):]] = v
                break
        else:
            out[BACKBONE_PREFIX + k] = v
    return out


def classifier_to_upstream(state: Dict[str, torch.Tensor]) -> dict:
    """Inverse of :func:`upstream_to_classifier` (other keys dropped)."""
    out = {}
    for k, v in state.items():
        if k.startswith(BACKBONE_PREFIX):
            out[k[len(BACKBONE_PREFIX):]] = v
        elif k.startswith('head.aux_fc.'):
            out['aux_head.' + k[len('head.aux_fc.'):]] = v
        elif k.startswith('head.fc.'):
            out['head.' + k[len('head.fc.'):]] = v
    return out


def _is_classifier_format(state: dict) -> bool:
    return any(k.startswith(BACKBONE_PREFIX) for k in state)


def to_classifier_format(state: dict) -> dict:
    """Any FAN state dict (upstream or classifier layout, ``module.``
    prefixes, legacy spellings) -> classifier format."""
    state = _strip_module(_tensors_only(state))
    if _is_classifier_format(state):
        return _fix_legacy(state, BACKBONE_PREFIX)
    return upstream_to_classifier(state)


def load_fan_checkpoint(path: str, prefer_ema: bool = True,
                        trusted: Optional[bool] = None) -> dict:
    """Load any supported FAN checkpoint file as a classifier-format dict.

    Args:
        path: local file, or an http(s) URL (downloaded once to torch's hub
            cache).
        prefer_ema: take the EMA weights when the file has them (upstream
            ``state_dict_ema``; for mmengine EMAHook files ``state_dict``
            already holds the EMA weights). ``False`` takes the raw ones.
        trusted: passed to :func:`stl_mm.utils.checkpoint.safe_load`
            (``None`` reads ``STL_MM_TRUST_CHECKPOINTS``).

    Returns:
        dict: ``backbone.*``, ``head.fc.*`` and, for token variants,
        ``head.aux_fc.*`` tensors. Entries of stl_mm checkpoints that are
        neither (e.g. a segmentation decode head) are kept as they are.
    """
    path = str(path)
    if path.startswith(('http://', 'https://')):
        from mmengine.runner.checkpoint import CheckpointLoader
        ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    else:
        ckpt = safe_load(path, map_location='cpu', trusted=trusted)
    state, _ = extract_state_dict(ckpt, prefer_ema=prefer_ema)
    return to_classifier_format(state)


# ---------------------------------------------------------------------------
# shape checks
# ---------------------------------------------------------------------------
def _zoo() -> Dict[str, type]:
    """Every upstream variant name -> the backbone class that builds it."""
    from ..backbones.fan import FAN
    from ..backbones.fan_swin import FANSwin
    return {**{a: FAN for a in FAN.arch_zoo},
            **{a: FANSwin for a in FANSwin.arch_zoo}}


@functools.lru_cache(maxsize=None)
def _arch_shapes(arch: str) -> Dict[str, Tuple[int, ...]]:
    """Backbone key -> shape of a zoo arch, built on the meta device."""
    with torch.device('meta'):
        model = _zoo()[arch](arch)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _backbone_part(state: dict) -> dict:
    """Backbone entries (no prefix) of a classifier- or upstream-format dict
    or of a plain backbone state dict."""
    state = _strip_module(state)
    if _is_classifier_format(state):
        state = {k[len(BACKBONE_PREFIX):]: v for k, v in state.items()
                 if k.startswith(BACKBONE_PREFIX)}
        return _fix_legacy(state)
    state = _fix_legacy(state)
    return {k: v for k, v in state.items()
            if not k.startswith(('head.', 'aux_head.'))}


def _has_aux_head(state: dict) -> bool:
    return any(k.startswith(('aux_head.', 'head.aux_fc.', 'module.aux_head.'))
               for k in state)


def _shape(v) -> Tuple[int, ...]:
    return tuple(v.shape) if hasattr(v, 'shape') else tuple(v)


def _problems(model_shapes: Dict[str, Tuple[int, ...]],
              ckpt_shapes: Dict[str, Tuple[int, ...]]) -> List[str]:
    problems = []
    for k, shape in model_shapes.items():
        if k not in ckpt_shapes:
            if not k.startswith(OPTIONAL_BACKBONE_PREFIXES):
                problems.append(f'{k}: missing in the checkpoint (model '
                                f'shape {list(shape)})')
        elif ckpt_shapes[k] != shape:
            problems.append(f'{k}: checkpoint shape {list(ckpt_shapes[k])} '
                            f'!= model shape {list(shape)}')
    for k, shape in ckpt_shapes.items():
        if (k not in model_shapes and k.startswith(_STRUCTURAL_PREFIXES)
                and not k.endswith('.attn_mask')):  # FAN-Swin: recomputed
            problems.append(f'{k}: not in the model (checkpoint shape '
                            f'{list(shape)})')
    return problems


def find_matching_arch(state: dict) -> Optional[str]:
    """Name of the upstream variant whose backbone shapes fit ``state``.

    ``state`` may be classifier-format, upstream-format or a bare backbone
    state dict. Token variants are reported (``*_token``) when the state has
    an aux head. Returns ``None`` when no variant fits.
    """
    ckpt_shapes = {k: _shape(v) for k, v in _backbone_part(state).items()}
    with_aux = _has_aux_head(state)
    zoo = _zoo()
    for arch in zoo:
        if arch.endswith('_token'):
            continue
        if not _problems(_arch_shapes(arch), ckpt_shapes):
            if with_aux and arch + '_token' in zoo:
                return arch + '_token'
            return arch
    return None


def nearest_arch(state: dict) -> Tuple[str, int]:
    """The base variant with the fewest non-fitting keys, and that count."""
    ckpt_shapes = {k: _shape(v) for k, v in _backbone_part(state).items()}
    scores = [(len(_problems(_arch_shapes(a), ckpt_shapes)), a)
              for a in _zoo() if not a.endswith('_token')]
    count, arch = min(scores)
    return arch, count


def check_state_matches(model_state: dict, ckpt_state: dict,
                        arch_name: str) -> None:
    """Raise ``ValueError`` unless ``ckpt_state`` fits ``model_state``.

    Both may be bare backbone dicts or carry the ``backbone.`` prefix.
    Missing keys (other than ``learnable_downsample.*``/``out_norms.*``),
    shape mismatches and checkpoint keys of FAN structures the model lacks
    (more blocks, another stem) are reported, the first five with shapes,
    together with the upstream variant whose shapes do fit (if any).
    """
    model_shapes = {k: _shape(v) for k, v in _backbone_part(
        model_state).items()}
    ckpt_backbone = _backbone_part(ckpt_state)
    ckpt_shapes = {k: _shape(v) for k, v in ckpt_backbone.items()}
    problems = _problems(model_shapes, ckpt_shapes)
    if not problems:
        return
    # the whole state: a file with the aux head fits the *_token variant
    fit = find_matching_arch(ckpt_state)
    if fit is not None:
        kind = (' (the token-labeling variant: the file has the aux head)'
                if fit.endswith('_token') else '')
        hint = (f"Its shapes fit the variant '{fit}'{kind}: build the model "
                f"with arch='{fit}'.")
    else:
        hint = ('No upstream FAN variant fits its shapes; is it a FAN '
                'checkpoint, and is it complete?')
    raise ValueError(
        f"The checkpoint does not fit FAN arch '{arch_name}' "
        f'({len(problems)} mismatching or missing keys):'
        f'{_listing(problems, 5)}\n{hint}')


def _listing(problems: List[str], limit: int) -> str:
    """The first ``limit`` problems, one per indented line."""
    more = (f'\n  ... and {len(problems) - limit} more'
            if len(problems) > limit else '')
    return ''.join(f'\n  {p}' for p in problems[:limit]) + more


# ---------------------------------------------------------------------------
# does a checkpoint fit a whole model (classifier, teacher)?
# ---------------------------------------------------------------------------
def describe_checkpoint(state: dict) -> str:
    """What a classifier-format state dict holds, in words: the FAN variant
    whose shapes fit (or width and depth when none does), the class count
    and whether it has the token-label (aux) head."""
    backbone = _backbone_part(state)
    parts = []
    arch = find_matching_arch(state) if backbone else None
    if arch is not None:
        parts.append(f"FAN variant '{arch}'")
    elif 'cls_token' in backbone:
        depth = len({k.split('.')[1] for k in backbone
                     if k.startswith('blocks.')})
        parts.append(f'a FAN of no zoo variant (embed_dims '
                     f'{_shape(backbone["cls_token"])[-1]}, depth {depth})')
    elif backbone:
        parts.append('a backbone of no FAN variant')
    else:
        parts.append('no backbone weights')
    fc = state.get('head.fc.weight')
    if fc is not None:
        parts.append(f'{_shape(fc)[0]} classes')
    parts.append('with the token-label head (head.aux_fc)'
                 if _has_aux_head(state) else 'without a token-label head')
    return ', '.join(parts)


def check_fits_model(model_state: dict, ckpt_state: dict, source: str,
                     what: str = 'model', strict_unexpected: bool = False,
                     ignore_prefixes=('data_preprocessor.', ),
                     note: str = '') -> List[str]:
    """Raise :class:`CheckpointMismatchError` unless ``ckpt_state`` fits.

    Both are classifier-format state dicts (``ckpt_state`` already
    converted). A key of the model missing from the checkpoint, or of
    another shape, does not fit; checkpoint keys the model lacks only do
    with ``strict_unexpected``. The message lists the first problems with
    shapes and says what the checkpoint holds (:func:`describe_checkpoint`)
    and what the model is; ``note`` is appended.

    Returns:
        list: the checkpoint keys the model does not use.
    """
    def keep(k):
        return not k.startswith(tuple(ignore_prefixes))

    missing = sorted(k for k in model_state if keep(k) and k not in
                     ckpt_state)
    # head keys first: their shapes tell the class counts
    wrong = sorted((k for k in model_state if k in ckpt_state and _shape(
        ckpt_state[k]) != _shape(model_state[k])),
                   key=lambda k: (not k.startswith('head.'), k))
    unexpected = sorted(k for k in ckpt_state if keep(k) and k not in
                        model_state)
    problems = [f"'{k}': checkpoint {list(_shape(ckpt_state[k]))} != "
                f'model {list(_shape(model_state[k]))}' for k in wrong]
    problems += [f"'{k}': missing in the checkpoint" for k in missing]
    if strict_unexpected:
        problems += [f"'{k}': not in the model" for k in unexpected]
    if not problems:
        return unexpected
    counts = ', '.join(
        f'{n} {label}' for n, label in
        ((len(wrong), 'of another shape'), (len(missing), 'missing'),
         (len(unexpected) if strict_unexpected else 0, 'unexpected')) if n)
    raise CheckpointMismatchError(
        f'The checkpoint "{source}" does not fit the {what} of this config '
        f'({counts} weights):{_listing(problems, 6)}\n'
        f'The checkpoint holds {describe_checkpoint(ckpt_state)}; the '
        f'{what} is {describe_checkpoint(model_state)}. Use the checkpoint '
        f'of this {what}, or change the config to match the checkpoint '
        f'(arch, num_classes, head type).{note}')
