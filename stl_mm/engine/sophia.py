"""Sophia (second-order clipped optimizer) for mmengine configs.

- ``type='stl_mm.SophiaH'``: :class:`pytorch_optimizer.SophiaH` (Sophia with
  Hutchinson's estimate of the Hessian diagonal), from the maintained
  ``pytorch-optimizer`` package (``requirements/custom.txt``). It is
  registered through a small builder so that ``stl_mm`` imports without the
  package and a config asking for it gets a clear error.
- ``type='stl_mm.HessianOptimWrapper'``: the optim wrapper SophiaH needs.
  Hutchinson's estimate differentiates the gradients once more
  (``autograd.grad(p.grad, p, z)``), so on the steps where the optimizer
  refreshes its Hessian the loss is back-propagated with
  ``create_graph=True``; the other steps are plain first-order steps.

Fused attention: the CPU flash kernel of ``F.scaled_dot_product_attention``
(and the CUDA flash / memory-efficient kernels) have no double backward
("derivative for aten::_scaled_dot_product_flash_attention_for_cpu_backward
is not implemented"). On the Hessian steps the wrapper therefore runs the
forward pass with the math SDPA backend only (same numbers, differentiable
twice); all other steps keep the fused kernels.

Example::

    optim_wrapper = dict(
        type='stl_mm.HessianOptimWrapper',
        optimizer=dict(type='stl_mm.SophiaH', lr=1e-3, weight_decay=0.05,
                       update_period=10))
"""
import warnings
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from torch.nn.attention import SDPBackend, sdpa_kernel

from stl_mm.registry import OPTIM_WRAPPERS, OPTIMIZERS
from stl_mm.utils.errors import UserError

__all__ = ['SophiaH', 'HessianOptimWrapper']


@OPTIMIZERS.register_module(name='SophiaH')
def SophiaH(params, **kwargs) -> torch.optim.Optimizer:
    """Build :class:`pytorch_optimizer.SophiaH` (same arguments: ``lr``,
    ``betas``, ``weight_decay``, ``p`` (update clipping), ``update_period``
    (steps between Hessian refreshes), ``num_samples``,
    ``hessian_distribution``, ...)."""
    try:
        from pytorch_optimizer import SophiaH as _SophiaH
    except ImportError:
        raise UserError(
            'The SophiaH optimizer needs the pytorch-optimizer package: '
            'pip install -r requirements/custom.txt') from None
    return _SophiaH(params, **kwargs)


@OPTIM_WRAPPERS.register_module()
class HessianOptimWrapper(OptimWrapper):
    """OptimWrapper for optimizers that estimate the Hessian from the
    gradients' graph (SophiaH and other Hutchinson-based optimizers of
    ``pytorch-optimizer``).

    On steps where the optimizer refreshes its Hessian estimate (every
    ``optimizer.update_period`` steps, counted from the first; always when
    the optimizer has no ``update_period``), ``backward`` keeps the graph of
    the gradients (``create_graph=True``) and the forward runs with the math
    SDPA backend (the fused kernels have no double backward). The gradient
    graph is released by ``zero_grad`` (gradients set to None).

    Gradient clipping is refused: it rescales the gradients in place, which
    breaks their graph, and Sophia clips its update itself (option ``p``).
    Gradient accumulation (``accumulative_counts > 1``) is refused too (the
    Hessian would see only the last micro-batch's graph).
    """

    def __init__(self, *args, **kwargs):
        if kwargs.get('clip_grad'):
            raise UserError(
                'HessianOptimWrapper (Sophia) does not take clip_grad: '
                'clipping the gradients in place breaks the graph the Hessian '
                "estimate needs, and Sophia clips its update itself (option "
                "'p' of the optimizer). Drop optim_wrapper.clip_grad.")
        if kwargs.get('accumulative_counts', 1) != 1:
            raise UserError(
                'HessianOptimWrapper (Sophia) does not support gradient '
                'accumulation: set optim_wrapper.accumulative_counts=1.')
        super().__init__(*args, **kwargs)

    def needs_hessian(self) -> bool:
        """Whether the coming ``step`` refreshes the Hessian estimate."""
        period = getattr(self.optimizer, 'update_period', 1) or 1
        step = self.optimizer.param_groups[0].get('step', 0)
        return int(step) % int(period) == 0

    @contextmanager
    def optim_context(self, model):
        with super().optim_context(model):
            if self.needs_hessian():
                with sdpa_kernel([SDPBackend.MATH]):
                    yield
            else:
                yield

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        kwargs.setdefault('create_graph', self.needs_hessian())
        with warnings.catch_warnings():
            # torch warns of the parameter <-> gradient reference cycle of
            # create_graph=True; zero_grad sets the gradients to None after
            # each step, which breaks it
            warnings.filterwarnings(
                'ignore', message=r'Using backward\(\) with create_graph')
            super().backward(loss, **kwargs)
