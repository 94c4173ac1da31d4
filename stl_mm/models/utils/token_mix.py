"""Mixup / CutMix that also tells how every token was mixed.

mmpretrain's ``Mixup``/``CutMix`` batch augments return only the mixed
images and scores: lambda, the permutation and the CutMix box are lost, and
CutMix writes into its input. STL needs all three to mix the teacher's
dense (per-token) labels exactly like the student's image, so this module
has its own implementation (a deliberate replacement, not a wrapper).

Behaviour (timm/upstream ``Mixup`` in mode ``'batch'``):

- with probability ``prob`` the batch is mixed at all; then CutMix is used
  with probability ``switch_prob`` when both are enabled (otherwise the one
  that is enabled);
- ``lambda ~ Beta(alpha, alpha)``; the partner of sample ``i`` is
  ``perm[i]`` for a random permutation ``perm``;
- mixup: ``x = lambda * x + (1 - lambda) * x[perm]``;
- CutMix: a box of area ``(1 - lambda) * H * W`` around a uniform random
  centre (clipped at the borders) is pasted from ``x[perm]``. The box is
  snapped to the ``patch_size`` grid so that every token comes wholly from
  one image, and lambda is recomputed from the snapped box;
- image targets are mixed with the same lambda and permutation.

The result carries a :class:`MixParams` record, whose
:attr:`MixParams.token_weight` is the share of the partner image in every
token. With ``mix_token_labels=False`` the recorded token weight is zero
(token labels stay unmixed, as in the reference implementation), while the
images and image targets are mixed as usual.

Randomness: lambda, the switch and the box use numpy's global RNG (as
mmpretrain's batch augments), the permutation torch's global RNG; both are
seeded by mmengine's ``randomness`` setting.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import torch

from stl_mm.registry import MODELS

__all__ = ['MixParams', 'TokenMix']


@dataclass
class MixParams:
    """How one batch was mixed.

    Attributes:
        mode: ``'none'``, ``'mixup'`` or ``'cutmix'``.
        lam: weight of the sample's own image (``1.`` for ``'none'``; for
            CutMix the value recomputed from the snapped box).
        perm: ``(B,)`` long tensor, the partner of every sample.
        box: CutMix box ``(top, left, bottom, right)`` in pixels (bottom and
            right exclusive), multiples of ``patch_size``; ``None`` otherwise.
        grid: token grid ``(h, w)`` = image size // ``patch_size``.
        patch_size: the patch stride the box was snapped to.
        mix_token_labels: whether token labels are to be mixed.
    """
    mode: str
    lam: float
    perm: torch.Tensor
    box: Optional[Tuple[int, int, int, int]]
    grid: Tuple[int, int]
    patch_size: int
    mix_token_labels: bool = True

    @property
    def token_box(self) -> Optional[Tuple[int, int, int, int]]:
        """The CutMix box in token units (top, left, bottom, right)."""
        if self.box is None:
            return None
        return tuple(v // self.patch_size for v in self.box)

    def token_weight(self, device=None) -> torch.Tensor:
        """``(B, h, w)`` float share of ``perm[i]`` in every token of ``i``.

        Zero everywhere when ``mix_token_labels`` is off or nothing was
        mixed.
        """
        B = self.perm.numel()
        h, w = self.grid
        weight = torch.zeros(B, h, w, device=device)
        if not self.mix_token_labels or self.mode == 'none':
            return weight
        if self.mode == 'mixup':
            return weight.fill_(1. - self.lam)
        top, left, bottom, right = self.token_box
        weight[:, top:bottom, left:right] = 1.
        return weight


@MODELS.register_module()
class TokenMix:
    """Batch-level Mixup/CutMix with a patch-aligned CutMix box.

    Args:
        mixup_alpha: Beta parameter of mixup; ``0`` disables mixup.
        cutmix_alpha: Beta parameter of CutMix; ``0`` disables CutMix.
        switch_prob: probability of CutMix when both are enabled.
        prob: probability of mixing a batch at all.
        patch_size: token stride of the model; CutMix boxes are multiples of
            it and image sides must be too.
        mix_token_labels: mix the teacher's token labels with the same
            permutation/lambda/box (``True``, the correct behaviour) or
            leave them unmixed (``False``, the reference implementation).

    Calling the object with ``(inputs, batch_score)`` follows the batch
    augment protocol of mmpretrain and returns ``(inputs, batch_score)``;
    :meth:`mix` also returns the :class:`MixParams`. Neither modifies its
    arguments.
    """

    def __init__(self,
                 mixup_alpha: float = 0.8,
                 cutmix_alpha: float = 1.0,
                 switch_prob: float = 0.5,
                 prob: float = 1.0,
                 patch_size: int = 16,
                 mix_token_labels: bool = True):
        if mixup_alpha < 0 or cutmix_alpha < 0:
            raise ValueError('mixup_alpha and cutmix_alpha must be >= 0')
        if not 0. <= switch_prob <= 1. or not 0. <= prob <= 1.:
            raise ValueError('switch_prob and prob must be in [0, 1]')
        if patch_size < 1:
            raise ValueError('patch_size must be >= 1')
        self.mixup_alpha = float(mixup_alpha)
        self.cutmix_alpha = float(cutmix_alpha)
        self.switch_prob = float(switch_prob)
        self.prob = float(prob)
        self.patch_size = int(patch_size)
        self.mix_token_labels = bool(mix_token_labels)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(mixup_alpha={self.mixup_alpha}, '
                f'cutmix_alpha={self.cutmix_alpha}, '
                f'switch_prob={self.switch_prob}, prob={self.prob}, '
                f'patch_size={self.patch_size}, '
                f'mix_token_labels={self.mix_token_labels})')

    # ------------------------------------------------------------------
    # sampling
    # ------------------------------------------------------------------
    def _grid(self, img_hw: Tuple[int, int]) -> Tuple[int, int]:
        H, W = img_hw
        p = self.patch_size
        if H % p or W % p:
            raise ValueError(
                f'TokenMix needs image sides that are multiples of the patch '
                f'size {p} (so that CutMix boxes follow the token grid), got '
                f'{H}x{W}. Crop/resize to a multiple of {p} or set '
                f'pad_size_divisor={p} in the data preprocessor.')
        return H // p, W // p

    def _choose_mode(self) -> Tuple[str, float]:
        """Returns the mode and the sampled (unsnapped) lambda."""
        enabled = self.mixup_alpha > 0 or self.cutmix_alpha > 0
        if not enabled or np.random.rand() >= self.prob:
            return 'none', 1.
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            use_cutmix = np.random.rand() < self.switch_prob
        else:
            use_cutmix = self.cutmix_alpha > 0
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        lam = float(np.random.beta(alpha, alpha))
        return ('cutmix' if use_cutmix else 'mixup'), lam

    @staticmethod
    def _snapped_span(size: int, cut: int) -> Tuple[int, int]:
        """A span of ``cut`` cells around a random centre, clipped."""
        centre = np.random.randint(size)
        start = centre - cut // 2
        return int(np.clip(start, 0, size)), int(np.clip(start + cut, 0,
                                                          size))

    def sample_params(self, batch_size: int, img_hw: Tuple[int, int],
                      device=None) -> MixParams:
        """Draw the mixing parameters of one batch."""
        grid = self._grid(img_hw)
        mode, lam = self._choose_mode()
        perm = torch.randperm(batch_size).to(device)
        box = None
        if mode == 'cutmix':
            h, w = grid
            ratio = np.sqrt(1. - lam)
            top, bottom = self._snapped_span(h, int(round(h * ratio)))
            left, right = self._snapped_span(w, int(round(w * ratio)))
            lam = 1. - (bottom - top) * (right - left) / float(h * w)
            p = self.patch_size
            box = (top * p, left * p, bottom * p, right * p)
        return MixParams(mode=mode, lam=lam, perm=perm, box=box, grid=grid,
                         patch_size=self.patch_size,
                         mix_token_labels=self.mix_token_labels)

    # ------------------------------------------------------------------
    # applying
    # ------------------------------------------------------------------
    @staticmethod
    def mix_images(inputs: torch.Tensor, params: MixParams) -> torch.Tensor:
        """The mixed batch (a new tensor unless nothing is mixed; ``inputs`` is
        never written to)."""
        if params.mode == 'none':
            return inputs
        partner = inputs[params.perm.to(inputs.device)]
        if params.mode == 'mixup':
            return inputs * params.lam + partner * (1. - params.lam)
        top, left, bottom, right = params.box
        mixed = inputs.clone()
        mixed[..., top:bottom, left:right] = partner[..., top:bottom,
                                                     left:right]
        return mixed

    @staticmethod
    def mix_targets(scores: torch.Tensor, params: MixParams) -> torch.Tensor:
        """``lam * y + (1 - lam) * y[perm]`` for ``(B, K)`` scores."""
        if params.mode == 'none':
            return scores
        partner = scores[params.perm.to(scores.device)]
        return scores * params.lam + partner * (1. - params.lam)

    @staticmethod
    def mix_tokens(token_labels: torch.Tensor,
                   params: MixParams) -> torch.Tensor:
        """Mix ``(B, N, K)`` token targets like the images were mixed."""
        from .token_labels import mix_token_labels
        return mix_token_labels(token_labels, params.perm,
                                params.token_weight(token_labels.device))

    def mix(self, inputs: torch.Tensor, batch_score: torch.Tensor
            ) -> Tuple[torch.Tensor, torch.Tensor, MixParams]:
        """Mix a batch; returns ``(inputs, scores, params)`` (new tensors)."""
        params = self.sample_params(inputs.shape[0], inputs.shape[-2:],
                                    device=inputs.device)
        return (self.mix_images(inputs, params),
                self.mix_targets(batch_score, params), params)

    def __call__(self, inputs: torch.Tensor, batch_score: torch.Tensor
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
        inputs, scores, _ = self.mix(inputs, batch_score)
        return inputs, scores
