"""Mixed-precision policy: which autocast dtype runs where.

The STL teacher forward (``stl_mm.models.classifiers.FrozenTeacher``) asks
:func:`teacher_autocast_dtype`; ``stl_mm.engine.runtime.enable_amp`` picks
the training wrapper (fp16 AMP on CUDA, bf16 autocast on CPU).
"""
import functools
from typing import Optional

import torch

__all__ = ['TEACHER_AMP_CHOICES', 'cpu_has_native_bf16',
           'teacher_autocast_dtype']

_AMP_DTYPES = {'fp16': torch.float16, 'float16': torch.float16,
               'bf16': torch.bfloat16, 'bfloat16': torch.bfloat16}
TEACHER_AMP_CHOICES = ('auto', *_AMP_DTYPES)


@functools.lru_cache(maxsize=None)
def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 matmuls/convolutions natively on this CPU
    (AVX512-BF16 or AMX); elsewhere bf16 autocast is emulated and slower
    than float32. Asked once per process (the teacher forward asks it every
    step)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # op absent in this torch build
        return False


def teacher_autocast_dtype(amp: Optional[str],
                           device: torch.device) -> Optional[torch.dtype]:
    """The autocast dtype of the teacher forward on ``device`` (None:
    float32).

    ``'auto'``: fp16 on CUDA (the upstream choice), bf16 on CPUs with native
    bf16 support, float32 on other CPUs. An explicit ``'fp16'`` applies on
    CUDA only (CPU fp16 matmuls are emulated), ``'bf16'`` on CUDA and CPU.
    """
    device = torch.device(device)
    if amp is None:
        return None
    if amp == 'auto':
        if device.type == 'cuda':
            return torch.float16
        if device.type == 'cpu' and cpu_has_native_bf16():
            return torch.bfloat16
        return None
    dtype = _AMP_DTYPES[amp]
    if device.type == 'cuda' or (device.type == 'cpu'
                                 and dtype is torch.bfloat16):
        return dtype
    return None
