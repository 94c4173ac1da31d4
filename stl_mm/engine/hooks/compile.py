"""``torch.compile`` of the network a Runner trains.

mmengine's own switch (``cfg.compile``) compiles the whole ``train_step``,
optimizer step included; with torch 2.14 and mmengine 0.10.7 TorchDynamo
fails inside it on the optimizer's ``param_groups`` (which mmengine's
parameter schedulers wrap), so the training never starts. This hook
compiles the model's ``extract_feat`` (backbone and neck: the compute of a
classifier; heads, losses, data samples and the optimizer stay eager)
before training starts.
"""
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from stl_mm.registry import HOOKS

__all__ = ['CompileHook']


@HOOKS.register_module()
class CompileHook(Hook):
    """Compile ``model.extract_feat`` with ``torch.compile(**kwargs)``.

    Args:
        backend: a ``torch.compile`` backend (default ``'inductor'``;
            ``'aot_eager'`` traces forward and backward without code
            generation).
        **kwargs: further ``torch.compile`` options (``mode``,
            ``dynamic``, ...).
    """

    priority = 'VERY_LOW'

    def __init__(self, backend: Optional[str] = 'inductor', **kwargs):
        self.compile_kwargs = dict(kwargs, backend=backend)

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if not hasattr(model, 'extract_feat'):
            raise TypeError(
                f'CompileHook compiles extract_feat, which '
                f'{type(model).__name__} does not have')
        model.extract_feat = torch.compile(model.extract_feat,
                                           **self.compile_kwargs)
        print_log(f'CompileHook: extract_feat compiled with '
                  f'{self.compile_kwargs}; the first iterations compile',
                  logger='current')
