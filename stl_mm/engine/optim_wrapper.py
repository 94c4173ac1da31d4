from contextlib import contextmanager

import torch
from mmengine.device import get_device
from mmengine.optim import OptimWrapper

from stl_mm.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """OptimWrapper that runs the forward pass under ``torch.autocast``.

    mmengine's ``AmpOptimWrapper`` asserts CUDA (it needs a grad scaler for
    fp16). bfloat16 has fp32's exponent range and needs no loss scaling, so
    on CPU autocast alone gives mixed precision; this wrapper provides it.

    Args:
        dtype: ``'bfloat16'`` (default) or ``'float16'``.
        **kwargs: as for :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self, *args, dtype: str = 'bfloat16', **kwargs):
        super().__init__(*args, **kwargs)
        if dtype not in ('bfloat16', 'float16'):
            raise ValueError(f'dtype must be "bfloat16" or "float16", '
                             f'got "{dtype}"')
        self.cast_dtype = getattr(torch, dtype)

    @contextmanager
    def optim_context(self, model):
        with super().optim_context(model):
            with torch.autocast(device_type=get_device(),
                                dtype=self.cast_dtype):
                yield
