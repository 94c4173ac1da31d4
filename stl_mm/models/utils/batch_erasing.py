"""Random erasing of a normalised, already mixed batch.

Why not mmpretrain's ``RandomErasing`` (a pipeline transform): it runs on
each uint8 image before batching, so in an STL/FAN run it would erase
*before* Mixup/CutMix (and the erased patch of the partner gets blended
in), and its ``'rand'`` fill is clipped to 0..255. The official recipes
(timm 0.5 with its CUDA prefetcher, NVlabs/STL ``PrefetchLoader``) erase
after mixing, on the normalised batch, filling with unclipped standard
normal noise (``--remode pixel``). This module does exactly that in the
data preprocessor.

Per image, independently (timm's ``RandomErasing``, ``max_count=1``):
with probability ``prob``, up to 10 attempts draw an area fraction
``U(min_area, max_area)`` and a log-uniform aspect ratio in
``[min_aspect, 1 / min_aspect]``; the first box that fits strictly inside
the image is filled with ``N(0, 1)`` noise (``mode='pixel'``), one
``N(0, 1)`` value per channel (``'rand'``) or zeros (``'const'``).
Random numbers: Python's ``random`` for the boxes (as timm), torch for the
noise; both are seeded by mmengine's ``randomness`` setting.
"""
import math
import random

import torch

from stl_mm.registry import MODELS

__all__ = ['BatchRandomErasing']


@MODELS.register_module()
class BatchRandomErasing:
    """Erase one random box per image of a normalised ``(B, C, H, W)`` batch.

    Args:
        prob: probability that an image is erased (``--reprob``).
        min_area / max_area: range of the erased area fraction.
        min_aspect: the aspect ratio range is ``[min_aspect, 1/min_aspect]``.
        mode: ``'pixel'`` (per-pixel normal noise, ``--remode pixel``),
            ``'rand'`` (per-channel) or ``'const'`` (zeros).
    """

    MODES = ('pixel', 'rand', 'const')

    def __init__(self, prob: float = 0.3, min_area: float = 0.02,
                 max_area: float = 1 / 3, min_aspect: float = 0.3,
                 mode: str = 'pixel'):
        if not 0. <= prob <= 1.:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        if not 0. < min_area <= max_area < 1.:
            raise ValueError('need 0 < min_area <= max_area < 1')
        if mode not in self.MODES:
            raise ValueError(f'mode must be one of {self.MODES}, got '
                             f'{mode!r}')
        self.prob = float(prob)
        self.min_area = float(min_area)
        self.max_area = float(max_area)
        self.log_aspect = (math.log(min_aspect), math.log(1. / min_aspect))
        self.mode = mode

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, '
                f'min_area={self.min_area}, max_area={self.max_area}, '
                f'min_aspect={math.exp(self.log_aspect[0]):.3g}, '
                f'mode={self.mode!r})')

    def sample_box(self, img_h: int, img_w: int):
        """``(top, left, h, w)`` of the box for one image, or None."""
        if random.random() > self.prob:
            return None
        area = img_h * img_w
        for _ in range(10):
            target = random.uniform(self.min_area, self.max_area) * area
            aspect = math.exp(random.uniform(*self.log_aspect))
            h = int(round(math.sqrt(target * aspect)))
            w = int(round(math.sqrt(target / aspect)))
            if w < img_w and h < img_h:
                return (random.randint(0, img_h - h),
                        random.randint(0, img_w - w), h, w)
        return None

    def _fill(self, channels: int, h: int, w: int, like: torch.Tensor):
        if self.mode == 'pixel':
            shape = (channels, h, w)
        elif self.mode == 'rand':
            shape = (channels, 1, 1)
        else:
            return like.new_zeros((channels, 1, 1))
        return torch.empty(shape, dtype=like.dtype,
                           device=like.device).normal_()

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        """A new batch with the boxes erased (``inputs`` is not modified)."""
        B, C, H, W = inputs.shape
        out = None
        for i in range(B):
            box = self.sample_box(H, W)
            if box is None:
                continue
            if out is None:
                out = inputs.clone()
            top, left, h, w = box
            out[i, :, top:top + h, left:left + w] = self._fill(C, h, w, out)
        return inputs if out is None else out
