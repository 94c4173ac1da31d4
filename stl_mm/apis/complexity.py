"""Parameters and multiply-accumulates (MACs) of a model, through
``mmengine.analysis``.

mmengine's analyzer (fvcore's) counts one fused multiply-add as one "flop",
i.e. it reports MACs; we call them MACs. Its tracer has no handle for
``aten::scaled_dot_product_attention`` and would silently count fused
attention as free, so :func:`sdpa_flop_jit` is registered for it: ``L*S*E``
MACs for ``q @ k^T`` plus ``L*S*Ev`` for ``attn @ v`` per batch element and
head (softmax, scaling and masks are not counted, as for explicit
attention's elementwise ops).
"""
import warnings
from math import prod
from typing import Any, List, Optional, Sequence, Union

import torch
from mmengine.config import Config

__all__ = ['sdpa_flop_jit', 'model_complexity', 'format_complexity',
           'print_complexity', 'ComplexityInputError']

SDPA_OP = 'aten::scaled_dot_product_attention'


class ComplexityInputError(ValueError):
    """A model name or input size the counter cannot use."""

    user_facing = True  # tools print the message alone (stl_mm.utils.cli)


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """MACs of one ``scaled_dot_product_attention`` call in a jit trace.

    ``inputs[:3]`` are ``q (..., L, E)``, ``k (..., S, E)`` and
    ``v (..., S, Ev)``.
    """
    from mmengine.analysis.jit_handles import get_shape
    q, k, v = (get_shape(t) for t in inputs[:3])
    batch = prod(q[:-2])
    L, E = q[-2], q[-1]
    S, Ev = k[-2], v[-1]
    return batch * L * S * (E + Ev)


def _build(model: Union[str, Config]) -> torch.nn.Module:
    """The classifier of a variant name or config (eval mode, no weights);
    for segmentation/detection configs their backbone."""
    from mmengine.registry import DefaultScope

    from stl_mm.registry import MODELS
    from stl_mm.utils import register_all_modules
    from .config import load_model_config
    from .inference import init_model
    cfg = load_model_config(model)
    scope = cfg.get('default_scope', 'mmpretrain')
    if scope == 'mmpretrain':
        return init_model(cfg)
    register_all_modules(init_default_scope=False)
    backbone = dict(cfg.model.backbone)
    backbone.pop('init_cfg', None)
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(backbone).eval()


def model_complexity(model: Union[str, Config, torch.nn.Module],
                     shape: Sequence[int] = (224, 224),
                     count_fused_attention: bool = True) -> dict:
    """Count parameters and MACs of one ``1 x 3 x H x W`` forward pass.

    Args:
        model: an upstream variant name, a config (file or
            :class:`Config`; classification configs count the whole
            classifier, segmentation/detection configs their backbone) or a
            module whose ``forward`` takes the image batch.
        shape: ``(H, W)`` of the input.
        count_fused_attention: register :func:`sdpa_flop_jit`; ``False``
            gives mmengine's default, which counts fused attention as free.

    Returns:
        dict with ``params`` (int), ``macs`` (int), ``shape`` and
        ``by_module`` (MACs of the top-level children).
    """
    from mmengine.analysis import FlopAnalyzer
    if not isinstance(model, torch.nn.Module):
        model = _build(model)
    model = model.eval()
    H, W = (int(s) for s in shape)
    x = torch.zeros(1, 3, H, W)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # tracer warnings
        analyzer = FlopAnalyzer(model, (x, ))
        if count_fused_attention:
            analyzer.set_op_handle(SDPA_OP, sdpa_flop_jit)
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        macs = analyzer.total()
        by_module = {name: count for name, count in
                     analyzer.by_module().items()
                     if name and '.' not in name}
    params = sum(p.numel() for p in model.parameters())
    return dict(params=params, macs=macs, shape=(H, W), by_module=by_module)


def format_complexity(name: str, result: dict,
                      note: Optional[str] = None) -> str:
    """One human-readable line: ``name  HxW  params M  GMACs``."""
    H, W = result['shape']
    line = (f'{name}  input 3x{H}x{W}  params {result["params"] / 1e6:.2f} M'
            f'  MACs {result["macs"] / 1e9:.2f} G')
    return line + (f'  ({note})' if note else '')


def print_complexity(models: Sequence[str],
                     shape: Sequence[int] = (224, 224)) -> List[dict]:
    """Count and print every model of ``models`` (variant names, config
    files, or ``'all'`` for every upstream variant); the tool's body."""
    import os.path as osp

    from .model_zoo import VARIANT_CONFIGS
    names: List[str] = []
    for name in models:
        names += sorted(VARIANT_CONFIGS) if name == 'all' else [name]
    if len(shape) != 2 or min(shape) < 1:
        raise ComplexityInputError(
            f'--shape takes two positive sides H W, got {list(shape)}')
    results = []
    for name in names:
        if name not in VARIANT_CONFIGS and not osp.isfile(name):
            raise ComplexityInputError(
                f'"{name}" is neither an upstream FAN variant name '
                f'({", ".join(sorted(VARIANT_CONFIGS))}) nor a config file.')
        result = model_complexity(name, shape)
        note = None
        if osp.isfile(name) and Config.fromfile(name).get(
                'default_scope', 'mmpretrain') != 'mmpretrain':
            note = 'backbone only'
        print(format_complexity(name, result, note), flush=True)
        results.append(dict(result, name=name))
    return results
