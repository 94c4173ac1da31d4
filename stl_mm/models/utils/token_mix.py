"""Mixup / CutMix that also tells how every token was mixed.

mmpretrain's ``Mixup``/``CutMix`` batch augments return only the mixed
images and scores: lambda, the partner and the CutMix box are lost, and
CutMix writes into its input. STL needs all three to mix the teacher's
dense (per-token) labels exactly like the student's image, so this module
has its own implementation (a deliberate replacement, not a wrapper).

Behaviour (timm 0.5 ``Mixup`` in mode ``'batch'``, as used by NVlabs/STL):

- with probability ``prob`` the batch is mixed at all; then CutMix is used
  with probability ``switch_prob`` when both are enabled (otherwise the one
  that is enabled); ``lambda ~ Beta(alpha, alpha)``;
- the partner of sample ``i`` is sample ``B - 1 - i`` (the reversed batch,
  timm's ``x.flip(0)``);
- mixup: ``x = lambda * x + (1 - lambda) * x_partner``;
- CutMix: a box of side ``int(side * sqrt(1 - lambda))`` around a uniform
  random centre, clipped at the borders, is pasted from the partner, and
  lambda is recomputed from the clipped box;
- image targets are mixed with the same lambda and partner.

Two box rules, chosen by ``mix_token_labels``:

- ``False`` (reference mode, NVlabs/STL): timm's pixel box, token labels
  left unmixed. The random draws (numpy's global RNG, in timm's order) and
  the box are exactly timm's.
- ``True`` (default of our STL student): the box is drawn on the token grid
  (``patch_size`` cells) so that every token comes wholly from one image,
  and the teacher's token labels are mixed with the same partner / lambda /
  box (:meth:`MixParams.token_weight`).

Randomness: numpy's global RNG (as timm and mmpretrain's batch augments),
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
    """How one batch was mixed (one record per batch, handed from the data
    preprocessor to the model's loss).

    Attributes:
        mode: ``'none'``, ``'mixup'`` or ``'cutmix'``.
        lam: weight of the sample's own image (``1.`` for ``'none'``; for
            CutMix the value recomputed from the clipped box).
        perm: ``(B,)`` long tensor, the partner of every sample.
        box: CutMix box ``(top, left, bottom, right)`` in pixels (bottom and
            right exclusive); ``None`` otherwise.
        img_hw: ``(H, W)`` of the mixed images.
        mix_token_labels: whether token labels are to be mixed (then the box
            lies on the token grid).
    """
    mode: str
    lam: float
    perm: torch.Tensor
    box: Optional[Tuple[int, int, int, int]]
    img_hw: Tuple[int, int]
    mix_token_labels: bool = True

    @property
    def mixed(self) -> bool:
        """Whether the batch was changed at all."""
        return self.mode != 'none'

    def token_weight(self, grid: Tuple[int, int],
                     device=None) -> torch.Tensor:
        """``(B, h, w)`` float share of the partner in every token.

        Args:
            grid: the model's token grid ``(h, w)`` for ``img_hw`` (e.g.
                ``(H // 16, W // 16)`` for FAN).

        Zero everywhere when ``mix_token_labels`` is off or nothing was
        mixed. For CutMix the box must lie on the token grid.
        """
        B = self.perm.numel()
        h, w = grid
        weight = torch.zeros(B, h, w, device=device)
        if not self.mix_token_labels or not self.mixed:
            return weight
        if self.mode == 'mixup':
            return weight.fill_(1. - self.lam)
        H, W = self.img_hw
        if H % h or W % w:
            raise ValueError(f'Token grid {h}x{w} does not tile the mixed '
                             f'{H}x{W} images.')
        sh, sw = H // h, W // w
        top, left, bottom, right = self.box
        if top % sh or bottom % sh or left % sw or right % sw:
            raise ValueError(
                f'The CutMix box {self.box} is not on the {sh}x{sw} token '
                'grid: mix.patch_size must equal the model stride.')
        weight[:, top // sh:bottom // sh, left // sw:right // sw] = 1.
        return weight


@MODELS.register_module()
class TokenMix:
    """Batch-level Mixup/CutMix with a record of how the batch was mixed.

    Args:
        mixup_alpha: Beta parameter of mixup; ``0`` disables mixup.
        cutmix_alpha: Beta parameter of CutMix; ``0`` disables CutMix.
        switch_prob: probability of CutMix when both are enabled.
        prob: probability of mixing a batch at all.
        patch_size: token stride of the model (CutMix boxes on the token
            grid when ``mix_token_labels``). ``None``: set by
            ``STLClassifier`` from its backbone at build time.
        mix_token_labels: ``True``: token-grid boxes and token labels mixed
            alike (the correct behaviour); ``False``: timm's pixel boxes and
            unmixed token labels (the reference implementation, exactly).

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
                 patch_size: Optional[int] = None,
                 mix_token_labels: bool = True):
        if mixup_alpha < 0 or cutmix_alpha < 0:
            raise ValueError('mixup_alpha and cutmix_alpha must be >= 0')
        if not 0. <= switch_prob <= 1. or not 0. <= prob <= 1.:
            raise ValueError('switch_prob and prob must be in [0, 1]')
        if patch_size is not None and patch_size < 1:
            raise ValueError('patch_size must be >= 1')
        self.mixup_alpha = float(mixup_alpha)
        self.cutmix_alpha = float(cutmix_alpha)
        self.switch_prob = float(switch_prob)
        self.prob = float(prob)
        self.patch_size = None if patch_size is None else int(patch_size)
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
    def _choose_mode(self) -> Tuple[str, float]:
        """Returns the mode and the sampled lambda (timm's draw order)."""
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
    def _span(size: int, cut: int) -> Tuple[int, int]:
        """``[centre - cut // 2, centre + cut // 2)`` clipped to ``size``,
        around a uniform random centre (timm's ``rand_bbox``)."""
        centre = np.random.randint(0, size)
        return (int(np.clip(centre - cut // 2, 0, size)),
                int(np.clip(centre + cut // 2, 0, size)))

    @staticmethod
    def _cell_span(size: int, cut: int) -> Tuple[int, int]:
        start = np.random.randint(0, size) - cut // 2
        return (int(np.clip(start, 0, size)),
                int(np.clip(start + cut, 0, size)))

    def _box(self, img_hw: Tuple[int, int],
             lam: float) -> Tuple[int, int, int, int]:
        H, W = img_hw
        ratio = np.sqrt(1. - lam)
        if not self.mix_token_labels:  # timm: pixel box
            cut_h, cut_w = int(H * ratio), int(W * ratio)
            top, bottom = self._span(H, cut_h)
            left, right = self._span(W, cut_w)
            return top, left, bottom, right
        p = self.patch_size
        if p is None:
            raise ValueError(
                'TokenMix(mix_token_labels=True) needs the token stride: '
                'set mix.patch_size, or build the preprocessor inside '
                'stl_mm.STLClassifier, which takes it from the backbone.')
        if H % p or W % p:
            raise ValueError(
                f'TokenMix needs image sides that are multiples of the patch '
                f'size {p} (so that CutMix boxes follow the token grid), got '
                f'{H}x{W}. Crop/resize to a multiple of {p} or set '
                f'pad_size_divisor={p} in the data preprocessor.')
        h, w = H // p, W // p
        # on the token grid: a span of round(side * ratio) cells around a
        # uniform random cell, clipped
        top, bottom = self._cell_span(h, int(round(h * ratio)))
        left, right = self._cell_span(w, int(round(w * ratio)))
        return top * p, left * p, bottom * p, right * p

    def sample_params(self, batch_size: int, img_hw: Tuple[int, int],
                      device=None) -> MixParams:
        """Draw the mixing parameters of one batch."""
        img_hw = (int(img_hw[0]), int(img_hw[1]))
        mode, lam = self._choose_mode()
        perm = torch.arange(batch_size - 1, -1, -1, device=device)
        box = None
        if mode == 'cutmix':
            box = self._box(img_hw, lam)
            top, left, bottom, right = box
            lam = 1. - (bottom - top) * (right - left) / float(
                img_hw[0] * img_hw[1])
        return MixParams(mode=mode, lam=lam, perm=perm, box=box,
                         img_hw=img_hw,
                         mix_token_labels=self.mix_token_labels)

    # ------------------------------------------------------------------
    # applying
    # ------------------------------------------------------------------
    @staticmethod
    def mix_images(inputs: torch.Tensor, params: MixParams) -> torch.Tensor:
        """The mixed batch (a new tensor unless nothing is mixed; ``inputs`` is
        never written to)."""
        if not params.mixed:
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
        if not params.mixed:
            return scores
        partner = scores[params.perm.to(scores.device)]
        return scores * params.lam + partner * (1. - params.lam)

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
