"""Token Labeling with precomputed (offline) label maps.

The counterpart of :class:`~stl_mm.models.classifiers.STLClassifier`: the
token targets do not come from a teacher running every step but from label
maps a teacher wrote once per image (``tools/dump_token_labels.py``, or the
published NFNet-F6 maps), cropped like the image by the pipeline's
coordinate-carrying transforms (``stl_mm.LoadTokenLabelMap``,
``stl_mm.RandomResizedCropWithCoords``, ``stl_mm.RandomFlipWithCoords``,
packed with ``PackInputs(algorithm_keys=['token_label_map',
'token_label_coords'])``).

``loss`` flow: label maps + crop coordinates -> class target ``(B, K)`` and
token targets ``(B, N, K)`` (ROI-align, flip, softmax, smoothing; see
:mod:`stl_mm.models.utils.label_maps`) -> mixing, either

- MixToken inside an LV-ViT backbone (``mix_token``; upstream LV-ViT), or
- the data preprocessor's image-level Mixup/CutMix record
  (``stl_mm.STLDataPreprocessor`` + ``stl_mm.TokenMix``; e.g. FAN
  students), applied to the token targets with the recorded partner and
  per-token weights,

-> student forward -> ``TokenLabelHead(mode='student')`` loss.
"""
from typing import List, Optional

import torch
import torch.nn.functional as F
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.structures import DataSample

from stl_mm.registry import MODELS
from ..utils.label_maps import (crop_token_targets, mix_flipped,
                                sample_mix_token)
from ..utils.data_preprocessor import STLDataPreprocessor
from ..utils.token_labels import mix_token_labels
from ..utils.token_mix import MixParams

__all__ = ['TokenLabelClassifier']

MAP_KEY = 'token_label_map'
COORDS_KEY = 'token_label_coords'
CLS_TARGETS = ('map', 'label')


class LabelMapBatchError(ValueError):
    """Label maps of a batch that do not fit together."""
    user_facing = True


def _name(sample: DataSample) -> str:
    return str(sample.get('img_path', '<unnamed image>'))


def _image_scores(data_samples: List[DataSample],
                  num_classes: int) -> torch.Tensor:
    """``(B, K)`` unsmoothed image targets: ``gt_score`` or one-hot
    ``gt_label``."""
    if 'gt_score' in data_samples[0]:
        return torch.stack([s.gt_score for s in data_samples]).float()
    labels = torch.cat([s.gt_label.reshape(-1)[:1] for s in data_samples])
    return F.one_hot(labels.long(), num_classes).float()


@MODELS.register_module()
class TokenLabelClassifier(ImageClassifier):
    """Image classifier trained with offline token-label maps.

    Args:
        backbone / neck / head / pretrained / train_cfg /
            data_preprocessor / init_cfg: as
            :class:`mmpretrain.models.ImageClassifier`; the head must take
            ``token_targets`` (``stl_mm.TokenLabelHead(mode='student')``).
        label_map (dict): ``smoothing`` (label smoothing of the token
            targets, default 0.1) and ``cls_target``: ``'map'`` (default,
            upstream: the class target is the label map averaged over the
            crop) or ``'label'`` (the data sample's image label/score);
            ``box``: ``'xyxy'`` (default: the crop's box) or ``'upstream'``
            (upstream's transposed box, see
            :func:`~stl_mm.models.utils.label_maps.crop_token_targets`).
            The head's ``label_smooth`` smooths the class target.
        mix_token (dict | None): MixToken, e.g. ``dict(alpha=1.0,
            prob=1.0)`` (upstream LV-ViT); needs a backbone with
            ``supports_mix_token`` (``stl_mm.LVViT``). None: off.
        patch_size (int | None): stride of the token grid; defaults to the
            backbone's ``patch_size`` or 16.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 label_map: Optional[dict] = None,
                 mix_token: Optional[dict] = None,
                 patch_size: Optional[int] = None,
                 pretrained: Optional[str] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(backbone=backbone, neck=neck, head=head,
                         pretrained=pretrained, train_cfg=train_cfg,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        cfg = dict(smoothing=0.1, cls_target='map', box='xyxy')
        unknown = set(label_map or {}) - set(cfg)
        if unknown:
            raise ValueError(f'Unknown label_map options {sorted(unknown)}; '
                             f'allowed: {sorted(cfg)}')
        cfg.update(label_map or {})
        if cfg['cls_target'] not in CLS_TARGETS:
            raise ValueError(f"label_map['cls_target'] must be one of "
                             f"{CLS_TARGETS}, got {cfg['cls_target']!r}")
        self.label_map_cfg = cfg
        if mix_token is not None:
            mix_token = dict(dict(alpha=1.0, prob=1.0), **mix_token)
            if set(mix_token) != {'alpha', 'prob'}:
                raise ValueError('mix_token takes alpha and prob, got '
                                 f'{sorted(mix_token)}')
            if not getattr(self.backbone, 'supports_mix_token', False):
                raise ValueError(
                    f'mix_token needs a backbone that mixes tokens inside '
                    f'(stl_mm.LVViT); {type(self.backbone).__name__} does '
                    'not. Mix images in the data preprocessor instead '
                    "(stl_mm.STLDataPreprocessor with mix=dict(type="
                    "'stl_mm.TokenMix')) and set mix_token=None.")
        self.mix_token_cfg = mix_token
        self.patch_size = int(patch_size or getattr(
            self.backbone, 'patch_size', 16))
        pre = self.data_preprocessor
        if isinstance(pre, STLDataPreprocessor):
            # the batch-level mix record reaches loss() (as STLClassifier)
            pre.pass_mix = True
            if pre.mix is not None and pre.mix.patch_size is None:
                pre.mix.patch_size = self.patch_size

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor',
                mix: Optional[MixParams] = None):
        """As ``ImageClassifier.forward``; ``mix`` (the batch's mix record
        from ``STLDataPreprocessor``) is used in ``'loss'`` mode only."""
        if mode == 'loss':
            return self.loss(inputs, data_samples, mix)
        return super().forward(inputs, data_samples, mode)

    # ------------------------------------------------------------------
    def _stack_maps(self, data_samples: List[DataSample]):
        if not data_samples or MAP_KEY not in data_samples[0]:
            raise LabelMapBatchError(
                'TokenLabelClassifier needs label maps in the data samples: '
                "add stl_mm.LoadTokenLabelMap to the train pipeline and "
                f"PackInputs(algorithm_keys=['{MAP_KEY}', '{COORDS_KEY}']).")
        maps = [torch.as_tensor(s.get(MAP_KEY)) for s in data_samples]
        shape = maps[0].shape
        for sample, m in zip(data_samples, maps):
            if m.shape != shape:
                raise LabelMapBatchError(
                    f'Label map of {_name(sample)} has shape '
                    f'{tuple(m.shape)}, that of {_name(data_samples[0])} '
                    f'{tuple(shape)}: all maps of a data set must come from '
                    'one dump (same top-k and grid).')
            if COORDS_KEY not in sample:
                raise LabelMapBatchError(
                    f'{_name(sample)} has a label map but no crop '
                    f'coordinates: pack {COORDS_KEY!r} too.')
        coords = torch.stack([torch.as_tensor(s.get(COORDS_KEY))
                              for s in data_samples])
        return torch.stack(maps), coords

    def label_map_targets(self, inputs: torch.Tensor,
                          data_samples: List[DataSample]):
        """``(cls (B, K), tokens (B, N, K))`` targets of the (unmixed)
        crops, N the token grid of ``inputs``."""
        p = self.patch_size
        grid = (inputs.shape[-2] // p, inputs.shape[-1] // p)
        # targets in float32, outside any autocast of the training step:
        # CPU autocast refuses to stack the float16 maps
        with torch.autocast(inputs.device.type, enabled=False):
            maps, coords = self._stack_maps(data_samples)
            return crop_token_targets(
                maps.to(inputs.device), coords.to(inputs.device), grid,
                num_classes=self.head.num_classes,
                smoothing=self.label_map_cfg['smoothing'],
                box=self.label_map_cfg['box'])

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             mix: Optional[MixParams] = None) -> dict:
        """Head losses of a batch ``(B, 3, H, W)`` whose targets come from
        its label maps, mixed as the images were (``mix``, from the
        preprocessor) or by MixToken."""
        cls_targets, token_targets = self.label_map_targets(
            inputs, data_samples)
        if mix is not None and mix.mixed:  # image-level mix (preprocessor)
            p = self.patch_size
            perm = mix.perm.to(token_targets.device)
            weight = mix.token_weight(
                (inputs.shape[-2] // p, inputs.shape[-1] // p),
                device=token_targets.device)
            token_targets = mix_token_labels(token_targets, perm, weight)
            share = 1. - mix.lam  # the partner's share of the image
            cls_targets = (1 - share) * cls_targets + \
                share * cls_targets[perm.to(cls_targets.device)]
        mask = None
        if self.mix_token_cfg is not None:
            p = self.patch_size
            mask, lam = sample_mix_token(
                (inputs.shape[-2] // p, inputs.shape[-1] // p),
                device=inputs.device, **self.mix_token_cfg)
            cls_targets = mix_flipped(cls_targets, lam)
        if self.label_map_cfg['cls_target'] == 'map':
            for sample, target in zip(data_samples, cls_targets):
                sample.set_gt_score(target)
        elif mask is not None:
            scores = _image_scores(data_samples, self.head.num_classes)
            for sample, target in zip(data_samples,
                                      mix_flipped(scores, lam)):
                sample.set_gt_score(target)
        if mask is not None:
            feats = self.backbone(inputs, mix_token_mask=mask)
            if self.with_neck:
                feats = self.neck(feats)
        else:
            feats = self.extract_feat(inputs)
        return self.head.loss(feats, data_samples,
                              token_targets=token_targets)
