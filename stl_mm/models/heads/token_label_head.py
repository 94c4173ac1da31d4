"""Class-token + per-token (dense) classification head of STL models."""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmpretrain.evaluation.metrics import Accuracy
from mmpretrain.models.heads import ClsHead
from mmpretrain.structures import DataSample

from stl_mm.registry import MODELS
from ..utils.token_labels import smooth_labels

__all__ = ['TokenLabelHead']


@MODELS.register_module()
class TokenLabelHead(ClsHead):
    """Two linear classifiers: ``fc`` on the class token, ``aux_fc`` on
    every patch token (the upstream ``head`` / ``aux_head``).

    ``forward(((cls, patch),))`` returns ``(cls_logits (B, K),
    token_logits (B, N, K))``.

    Losses (soft-target cross entropy ``sum(-t * log_softmax(x))``, averaged
    over the batch, computed in float32 whatever the autocast state):

    - ``mode='student'`` (STL phase 2): ``cls_weight * CE(cls, y) +
      dense_weight * mean_n CE(token_n, t_n)`` with token targets ``t``
      passed as ``token_targets`` (``(B, N, K)``, from the teacher).
    - ``mode='labeler'`` (phase 1): ``cls_weight * CE(cls, y) +
      dense_weight * CE(mean_n token_n, y)``.
    - ``mode='labeler_mean'``: the mean-token term only (the class term is
      kept in the graph with weight 0 so that every parameter receives a
      gradient, which DDP requires).

    ``y`` is the image target: the data samples' ``gt_score`` (soft, e.g.
    mixed by the data preprocessor) or the one-hot ``gt_label``, smoothed by
    ``label_smooth`` (smoothing commutes with mixing, so this equals timm's
    smoothed-then-mixed targets).

    Args:
        num_classes: K.
        in_channels: embedding width of the backbone tokens.
        mode: ``'student'``, ``'labeler'`` or ``'labeler_mean'``.
        cls_weight / dense_weight: loss weights.
        dynamic_dense_weight: scale the dense weight by
            ``sqrt(min(epoch, dense_weight_epochs) / dense_weight_epochs)``
            (upstream option, 300 epochs). The epoch (0-based) is read from
            mmengine's ``MessageHub`` runtime info ``'epoch'``, which the
            Runner's ``RuntimeInfoHook`` keeps up to date; outside a Runner
            it is 0 unless set there.
        dense_weight_epochs: the ramp length of the dynamic dense weight.
        label_smooth: smoothing of the image targets.
        fusion: prediction rule: ``'cls'`` (class head only; training-time
            validation), ``'cls_plus_max'`` (``cls + fusion_max_weight *
            max_n token_n``, the LV-ViT/upstream OOD convention) or
            ``'mean_tokens'`` (mean of the token logits).
        fusion_max_weight: weight of the token maximum for
            ``'cls_plus_max'``.
        init_scale: multiply the initial ``fc`` weight and bias by this
            (upstream large hybrid uses 1e-3).
        loss: mmpretrain loss config for one cross-entropy term; must take
            soft targets (default ``CrossEntropyLoss(use_soft=True)``).
        topk / cal_acc: as :class:`mmpretrain.models.ClsHead` (accuracy of
            the class head against ``gt_label``).
        init_cfg: defaults to truncated normal (std 0.02) weights and zero
            biases for both linear layers, as upstream.
    """

    MODES = ('student', 'labeler', 'labeler_mean')
    FUSIONS = ('cls', 'cls_plus_max', 'mean_tokens')

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 mode: str = 'student',
                 cls_weight: float = 1.0,
                 dense_weight: float = 1.0,
                 dynamic_dense_weight: bool = False,
                 dense_weight_epochs: int = 300,
                 label_smooth: float = 0.0,
                 fusion: str = 'cls',
                 fusion_max_weight: float = 0.5,
                 init_scale: float = 1.0,
                 loss: dict = dict(
                     type='CrossEntropyLoss', use_soft=True, loss_weight=1.0),
                 topk: Union[int, Tuple[int]] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = dict(
                     type='TruncNormal', layer='Linear', std=0.02, bias=0.)):
        super().__init__(loss=loss, topk=topk, cal_acc=cal_acc,
                         init_cfg=init_cfg)
        if mode not in self.MODES:
            raise ValueError(f'mode must be one of {self.MODES}, got '
                             f'{mode!r}')
        if fusion not in self.FUSIONS:
            raise ValueError(f'fusion must be one of {self.FUSIONS}, got '
                             f'{fusion!r}')
        if not 0. <= label_smooth < 1.:
            raise ValueError('label_smooth must be in [0, 1)')
        if dense_weight_epochs <= 0:
            raise ValueError('dense_weight_epochs must be positive')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.mode = mode
        self.cls_weight = cls_weight
        self.dense_weight = dense_weight
        self.dynamic_dense_weight = dynamic_dense_weight
        self.dense_weight_epochs = dense_weight_epochs
        self.label_smooth = label_smooth
        self.fusion = fusion
        self.fusion_max_weight = fusion_max_weight
        self.init_scale = init_scale

        self.fc = nn.Linear(in_channels, num_classes)
        self.aux_fc = nn.Linear(in_channels, num_classes)

    def init_weights(self):
        first_time = not self._is_init
        super().init_weights()
        if first_time and self.init_scale != 1.0:
            with torch.no_grad():
                self.fc.weight.mul_(self.init_scale)
                self.fc.bias.mul_(self.init_scale)

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def pre_logits(self, feats: Sequence) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(cls (B, C), patch (B, N, C))`` from the backbone output."""
        last = feats[-1]
        if not (isinstance(last, (tuple, list)) and len(last) == 2):
            raise TypeError(
                'TokenLabelHead needs the class token and the patch tokens: '
                'the backbone must return ((cls, patch),) (for stl_mm.FAN '
                "set out_type='cls_and_patch').")
        return last[0], last[1]

    def forward(self, feats: Sequence) -> Tuple[torch.Tensor, torch.Tensor]:
        cls_token, patch_tokens = self.pre_logits(feats)
        return self.fc(cls_token), self.aux_fc(patch_tokens)

    # ------------------------------------------------------------------
    # loss
    # ------------------------------------------------------------------
    def current_dense_weight(self) -> float:
        """The dense weight for the current epoch."""
        if not self.dynamic_dense_weight:
            return float(self.dense_weight)
        epoch = MessageHub.get_current_instance().get_info('epoch', 0) or 0
        ramp = min(int(epoch), self.dense_weight_epochs)
        return float(self.dense_weight) * math.sqrt(
            ramp / self.dense_weight_epochs)

    def image_targets(self, data_samples: List[DataSample],
                      device=None) -> torch.Tensor:
        """``(B, K)`` float32 image targets, label-smoothed."""
        if 'gt_score' in data_samples[0]:
            target = torch.stack([s.gt_score for s in data_samples]).float()
        else:
            labels = [s.gt_label.reshape(-1) for s in data_samples]
            if any(lb.numel() != 1 for lb in labels):
                raise ValueError('TokenLabelHead needs one label per image '
                                 '(or a gt_score).')
            target = F.one_hot(torch.cat(labels).long(),
                               self.num_classes).float()
        if target.shape[-1] != self.num_classes:
            raise ValueError(f'Targets have {target.shape[-1]} classes, the '
                             f'head {self.num_classes}.')
        target = smooth_labels(target, self.label_smooth)
        return target.to(device) if device is not None else target

    def _soft_ce(self, logits: torch.Tensor,
                 target: torch.Tensor) -> torch.Tensor:
        logits = logits.reshape(-1, logits.shape[-1]).float()
        target = target.reshape(-1, target.shape[-1]).float()
        with torch.autocast(device_type=logits.device.type, enabled=False):
            return self.loss_module(logits, target,
                                    avg_factor=logits.shape[0])

    def loss(self,
             feats: Sequence,
             data_samples: List[DataSample],
             token_targets: Optional[torch.Tensor] = None,
             **kwargs) -> dict:
        """Loss terms ``loss_cls`` and ``loss_dense`` (weights applied).

        Args:
            feats: backbone output ``((cls, patch),)``.
            data_samples: with ``gt_score`` or ``gt_label``.
            token_targets: ``(B, N, K)`` dense targets; required for
                ``mode='student'``, ignored otherwise.
        """
        cls_logits, token_logits = self(feats)
        return self._get_loss((cls_logits, token_logits), data_samples,
                              token_targets=token_targets)

    def _get_loss(self, scores, data_samples, token_targets=None, **kwargs):
        cls_logits, token_logits = scores
        target = self.image_targets(data_samples, cls_logits.device)
        dense_weight = self.current_dense_weight()
        cls_weight = 0. if self.mode == 'labeler_mean' else self.cls_weight

        losses = dict()
        losses['loss_cls'] = cls_weight * self._soft_ce(cls_logits, target)
        if self.mode == 'student':
            if token_targets is None:
                raise ValueError(
                    "TokenLabelHead(mode='student') needs token_targets "
                    '(B, N, K) from a token labeler; train the labeler '
                    "itself with mode='labeler'.")
            if token_targets.shape != token_logits.shape:
                raise ValueError(
                    f'token_targets {tuple(token_targets.shape)} do not '
                    f'match the token logits {tuple(token_logits.shape)}.')
            dense = self._soft_ce(token_logits, token_targets)
        else:
            dense = self._soft_ce(token_logits.float().mean(dim=1), target)
        losses['loss_dense'] = dense_weight * dense

        if self.cal_acc and 'gt_label' in data_samples[0]:
            labels = torch.cat([s.gt_label for s in data_samples])
            acc = Accuracy.calculate(cls_logits.detach(), labels,
                                     topk=self.topk)
            losses.update(
                {f'accuracy_top-{k}': a
                 for k, a in zip(self.topk, acc)})
        return losses

    # ------------------------------------------------------------------
    # predict
    # ------------------------------------------------------------------
    def fuse(self, cls_logits: torch.Tensor, token_logits: torch.Tensor,
             fusion: Optional[str] = None) -> torch.Tensor:
        """Class scores ``(B, K)`` from both heads by the fusion rule."""
        fusion = fusion or self.fusion
        if fusion == 'cls':
            return cls_logits
        if fusion == 'cls_plus_max':
            return cls_logits + \
                self.fusion_max_weight * token_logits.max(dim=1).values
        if fusion == 'mean_tokens':
            return token_logits.mean(dim=1)
        raise ValueError(f'fusion must be one of {self.FUSIONS}, got '
                         f'{fusion!r}')

    def predict(self,
                feats: Sequence,
                data_samples: Optional[List[Optional[DataSample]]] = None,
                fusion: Optional[str] = None) -> List[DataSample]:
        """Predictions with ``pred_score``/``pred_label`` from the fused
        scores (``fusion`` overrides the configured rule)."""
        cls_logits, token_logits = self(feats)
        scores = self.fuse(cls_logits, token_logits, fusion)
        return self._get_predictions(scores, data_samples)
