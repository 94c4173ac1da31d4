"""Data preprocessor for token-labelling runs (both STL phases).

Where mixing happens (design choice): here, in the data preprocessor, as
mmpretrain does for its batch augments, and identically for phase 1 (plain
``ImageClassifier``) and phase 2 (``STLClassifier``):

1. the student view is normalised (the parent ``ClsDataPreprocessor``);
2. during training it is mixed by :class:`~stl_mm.models.utils.TokenMix`
   together with the image targets (``gt_score``);
3. then random erasing (``erase``, :class:`BatchRandomErasing`) runs on the
   mixed, normalised student batch, as in the official recipes (timm's
   prefetcher erases after mixing);
4. the teacher view (if the pipeline packed one, by default in the data
   sample field ``teacher_img``) is normalised the same way but never
   mixed nor erased, and handed to the model as the extra ``teacher_inputs``
   argument of ``forward``;
5. with ``pass_mix=True`` (set by ``STLClassifier``, whose ``forward`` takes
   it) the batch's :class:`~stl_mm.models.utils.MixParams` record is handed
   on as the extra ``mix`` argument.

The STL classifier runs the teacher on the unmixed teacher view and mixes
the resulting token labels with the record, so student images, image
targets and token labels all follow one partner/lambda/box.
"""
from typing import List, Optional, Sequence, Union

import torch
from mmpretrain.models.utils import ClsDataPreprocessor

from stl_mm.registry import MODELS
from .batch_erasing import BatchRandomErasing
from .token_mix import TokenMix

__all__ = ['STLDataPreprocessor']


@MODELS.register_module()
class STLDataPreprocessor(ClsDataPreprocessor):
    """``ClsDataPreprocessor`` + token-aware mixing + batch erasing + a
    teacher view.

    Args:
        mix (dict | TokenMix, optional): the batch augment (type defaults
            to ``'stl_mm.TokenMix'``). Replaces ``batch_augments``; giving
            both is an error. Enables ``to_onehot``.
        erase (dict | BatchRandomErasing, optional): random erasing of the
            mixed student batch (type defaults to
            ``'stl_mm.BatchRandomErasing'``); training only.
        pass_mix (bool): return the mix record as ``data['mix']`` (only for
            models whose ``forward`` takes ``mix``: ``STLClassifier`` sets
            it).
        teacher_key (str): data-sample field holding the teacher view
            (``(C, H, W)`` tensor or ``(H, W, C)`` array, e.g. packed by
            ``PackInputs(algorithm_keys=['teacher_img'])``).
        Other arguments: as :class:`mmpretrain.models.ClsDataPreprocessor`.
    """

    def __init__(self,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 pad_size_divisor: int = 1,
                 pad_value: float = 0,
                 to_rgb: bool = False,
                 to_onehot: bool = False,
                 num_classes: Optional[int] = None,
                 batch_augments: Optional[dict] = None,
                 mix: Optional[Union[dict, TokenMix]] = None,
                 erase: Optional[Union[dict, BatchRandomErasing]] = None,
                 teacher_key: str = 'teacher_img',
                 pass_mix: bool = False):
        if mix is not None and batch_augments is not None:
            raise ValueError(
                'STLDataPreprocessor got both `mix` and `batch_augments`: '
                'the batch would be mixed twice. Use `mix` only.')
        super().__init__(
            mean=mean,
            std=std,
            pad_size_divisor=pad_size_divisor,
            pad_value=pad_value,
            to_rgb=to_rgb,
            to_onehot=to_onehot,
            num_classes=num_classes,
            batch_augments=batch_augments)
        if isinstance(mix, dict):
            mix = dict(mix)
            mix.setdefault('type', 'stl_mm.TokenMix')
            mix = MODELS.build(mix)
        self.mix = mix
        if mix is not None:
            self.to_onehot = True
        if isinstance(erase, dict):
            erase = dict(erase)
            erase.setdefault('type', 'stl_mm.BatchRandomErasing')
            erase = MODELS.build(erase)
        self.erase = erase
        self.teacher_key = teacher_key
        self.pass_mix = pass_mix

    def _pop_teacher_views(self, data_samples) -> Optional[List]:
        if not data_samples or self.teacher_key not in data_samples[0]:
            return None
        from mmpretrain.datasets.transforms import PackInputs
        views = []
        for sample in data_samples:
            views.append(PackInputs.format_input(sample.get(self.teacher_key)))
            delattr(sample, self.teacher_key)
        return views

    def forward(self, data: dict, training: bool = False) -> dict:
        """Normalise (and in training mix and erase) the student view;
        normalise the teacher view into ``teacher_inputs`` and hand on the
        mix record as ``mix`` (training only)."""
        data_samples = data.get('data_samples', None)
        teacher_views = (self._pop_teacher_views(data_samples)
                         if training else None)
        data = super().forward(data, training)
        samples = data['data_samples']

        if training and self.mix is not None and samples:
            if 'gt_score' not in samples[0]:
                raise ValueError('Mixing needs labelled data samples.')
            scores = torch.stack([s.gt_score for s in samples])
            inputs, scores, params = self.mix.mix(data['inputs'], scores)
            for sample, score in zip(samples, scores):
                sample.set_gt_score(score)
            data['inputs'] = inputs
            if self.pass_mix:
                data['mix'] = params
        if training and self.erase is not None:
            data['inputs'] = self.erase(data['inputs'])

        if teacher_views is not None:
            # The same cast / colour order / normalisation / padding as the
            # student view, but no mixing (training=False).
            teacher = super().forward({'inputs': teacher_views},
                                      training=False)['inputs']
            if teacher.shape != data['inputs'].shape:
                raise ValueError(
                    f'The teacher view {tuple(teacher.shape)} and the '
                    f'student view {tuple(data["inputs"].shape)} differ in '
                    'shape; both views must share the spatial transforms.')
            data['teacher_inputs'] = teacher
        return data
