"""Offline token-label maps (Token Labeling format) -> per-token targets.

A *label map* is what a token model predicts for a whole image, stored
compactly as ``[2, k, H, W]``: the top-k scores (logits) of every cell of
its ``H x W`` token grid in ``[0]`` and their class indices in ``[1]``
(TokenLabeling's ``generate_label.py`` format; float16 on disk). Training
crops and flips the image; the crop's box and flips, carried through the
pipeline as ``token_label_coords = [x1, y1, x2, y2, hflip, vflip]``
(normalised to the full image, see
:mod:`stl_mm.datasets.transforms.token_label_map`), say which part of the
map the crop shows. Its targets are then, as upstream:

1. the top-k scores scattered into a dense ``(K, H, W)`` map (0 elsewhere);
2. ROI-aligned (average, adaptive sampling, pixel-centre aligned) onto the
   crop's token grid ``(h, w)`` - and onto ``1 x 1`` for the class token;
3. flipped like the crop;
4. softmax over the K classes, then label smoothing.

Unlike upstream, the box is given to ROI-align as ``(x1, y1, x2, y2)`` with
x along the width (upstream passes ``(top, left, bottom, right)`` in that
slot, which transposes non-square crops), so the targets follow the crop
exactly; the online/offline equivalence tests check this.
``box='upstream'`` restores upstream's box exactly (the map mirrored first,
then the transposed box, every side scaled by the map's width).

MixToken (LV-ViT): :func:`sample_mix_token` draws the CutMix box on the
token grid as a mask; the backbone swaps the masked tokens with the batch
flipped along dim 0 and swaps them back before its output, so token targets
stay those of the own image and only the class target is mixed
(:func:`mix_flipped`).
"""
from typing import Optional, Tuple

import numpy as np
import torch

__all__ = ['dense_label_maps', 'crop_token_targets', 'sample_mix_token',
           'mix_flipped']


def dense_label_maps(topk_maps: torch.Tensor, num_classes: int
                     ) -> torch.Tensor:
    """``(B, 2, k, H, W)`` top-k maps -> ``(B, K, H, W)`` float32 scores
    (scores outside the top-k are 0, as upstream)."""
    if topk_maps.dim() != 5 or topk_maps.shape[1] != 2:
        raise ValueError('label maps must be (B, 2, k, H, W), got shape '
                         f'{tuple(topk_maps.shape)}')
    B, _, k, H, W = topk_maps.shape
    scores = topk_maps[:, 0].float()
    index = topk_maps[:, 1].round().long()
    dense = scores.new_zeros(B, num_classes, H, W)
    return dense.scatter_(1, index, scores)


def _roi_align(dense: torch.Tensor, boxes: torch.Tensor,
               size: Tuple[int, int]) -> torch.Tensor:
    from mmcv.ops import roi_align
    B = dense.shape[0]
    rois = torch.cat([torch.arange(B, device=dense.device,
                                   dtype=dense.dtype)[:, None], boxes], 1)
    return roi_align(dense, rois, size, spatial_scale=1.0, sampling_ratio=0,
                     pool_mode='avg', aligned=True)


def crop_token_targets(topk_maps: torch.Tensor,
                       coords: torch.Tensor,
                       grid: Tuple[int, int],
                       num_classes: int,
                       smoothing: float = 0.1,
                       box: str = 'xyxy'
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Class and token targets of crops from their images' label maps.

    Args:
        topk_maps: ``(B, 2, k, H, W)`` label maps of the full images.
        coords: ``(B, 6)``: crop box ``x1, y1, x2, y2`` as fractions of the
            full image, then horizontal and vertical flip flags (0/1).
        grid: the ``(h, w)`` token grid of the crops.
        num_classes: K.
        smoothing: label smoothing ``a``: ``(1 - a) * p + a / K``.
        box: ``'xyxy'`` (the crop's box) or ``'upstream'`` (TokenLabeling
            ``get_label``: the map flipped like the crop, then the box
            ``(top, left, bottom, right) * W`` in ROI-align's
            ``(x1, y1, x2, y2)`` slot; transposed for non-square crops).

    Returns:
        ``cls_targets (B, K)`` and ``token_targets (B, h * w, K)`` (row-major
        over the grid), float32, each a distribution over K.
    """
    if box not in ('xyxy', 'upstream'):
        raise ValueError(f"box must be 'xyxy' or 'upstream', got {box!r}")
    dense = dense_label_maps(topk_maps, num_classes)
    H, W = dense.shape[-2:]
    coords = coords.to(device=dense.device, dtype=torch.float32)
    hflip = coords[:, 4].bool().view(-1, 1, 1, 1)
    vflip = coords[:, 5].bool().view(-1, 1, 1, 1)
    h, w = grid
    if box == 'upstream':
        dense = torch.where(hflip, dense.flip(-1), dense)
        dense = torch.where(vflip, dense.flip(-2), dense)
        x1, y1, x2, y2 = coords[:, :4].unbind(1)
        hf, vf = hflip.view(-1), vflip.view(-1)
        # the box in the mirrored map's frame, then upstream's slot order
        x1, x2 = torch.where(hf, 1 - x2, x1), torch.where(hf, 1 - x1, x2)
        y1, y2 = torch.where(vf, 1 - y2, y1), torch.where(vf, 1 - y1, y2)
        boxes = torch.stack([y1, x1, y2, x2], 1) * W
        tokens = _roi_align(dense, boxes, (h, w))  # (B, K, h, w)
    else:
        boxes = coords[:, :4] * coords.new_tensor([W, H, W, H])
        tokens = _roi_align(dense, boxes, (h, w))  # (B, K, h, w)
        tokens = torch.where(hflip, tokens.flip(-1), tokens)
        tokens = torch.where(vflip, tokens.flip(-2), tokens)
    image = _roi_align(dense, boxes, (1, 1)).flatten(1)  # (B, K)
    tokens = tokens.flatten(2).transpose(1, 2)  # (B, h * w, K)
    cls_targets = image.softmax(-1)
    token_targets = tokens.softmax(-1)
    if smoothing:
        if not 0. <= smoothing < 1.:
            raise ValueError(f'smoothing must be in [0, 1), got {smoothing}')
        cls_targets = cls_targets * (1 - smoothing) + smoothing / num_classes
        token_targets = token_targets * (1 - smoothing) + \
            smoothing / num_classes
    return cls_targets, token_targets


def sample_mix_token(grid: Tuple[int, int], alpha: float = 1.0,
                     prob: float = 1.0, device=None
                     ) -> Tuple[Optional[torch.Tensor], float]:
    """MixToken's CutMix box on the token grid (upstream ``rand_bbox``).

    ``lambda ~ Beta(alpha, alpha)``; a box with sides ``sqrt(1 - lambda)``
    of the grid around a uniform centre, clipped at the borders. Returns
    ``(mask (h, w) bool, lam)`` with ``lam = 1 - box area / (h * w)``, or
    ``(None, 1.)`` when the batch is not mixed (probability ``1 - prob``
    or an empty box). Uses numpy's global RNG (seeded by mmengine).
    """
    if np.random.rand() >= prob:
        return None, 1.
    h, w = grid
    lam = float(np.random.beta(alpha, alpha))
    ratio = np.sqrt(1. - lam)
    cut_h, cut_w = int(h * ratio), int(w * ratio)
    cy, cx = np.random.randint(h), np.random.randint(w)
    top, bottom = np.clip([cy - cut_h // 2, cy + cut_h // 2], 0, h)
    left, right = np.clip([cx - cut_w // 2, cx + cut_w // 2], 0, w)
    area = int((bottom - top) * (right - left))
    if area == 0:
        return None, 1.
    rows = torch.arange(h, device=device)
    cols = torch.arange(w, device=device)
    mask = ((rows >= int(top)) & (rows < int(bottom)))[:, None] & \
        ((cols >= int(left)) & (cols < int(right)))[None, :]
    return mask, 1. - area / float(h * w)


def mix_flipped(targets: torch.Tensor, lam: float) -> torch.Tensor:
    """``lam * t + (1 - lam) * t.flip(0)``: the class targets of a batch
    whose tokens were mixed with the batch flipped along dim 0."""
    if lam >= 1.:
        return targets
    return targets * lam + targets.flip(0) * (1. - lam)
