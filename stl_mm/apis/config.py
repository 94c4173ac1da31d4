"""Config resolution for the user-facing entry points.

- :func:`load_model_config`: a FAN variant name, a config file or a
  :class:`Config` -> a :class:`Config` (a copy).
- :func:`inference_model_cfg`: the ``model`` part of a config as built for
  inference; an STL student (``STLClassifier``) becomes the plain
  ``ImageClassifier`` it is at test time.
- :func:`stl_student_model_cfg`: the reverse direction, an STL student with
  a frozen teacher built from a token-labeler or STL config (what the
  benchmark times).

Plain dict/Config manipulation: nothing is built here.
"""
import copy
import os.path as osp
from typing import Optional, Union

from mmengine.config import Config

from .model_zoo import VARIANT_CONFIGS, canonical_variant, variant_config

__all__ = [
    'UnknownModelError', 'load_model_config', 'inference_model_cfg',
    'stl_student_model_cfg', 'STL_TYPES'
]

STL_TYPES = ('STLClassifier', 'stl_mm.STLClassifier')
_STL_ONLY_KEYS = ('teacher', 'token_label', 'grid_check_size')
# as configs/_base_/datasets/imagenet_bs128_stl_224.py
_IMAGENET_MEAN = [123.675, 116.28, 103.53]
_IMAGENET_STD = [58.395, 57.12, 57.375]


class UnknownModelError(ValueError):
    """The model is neither a variant name nor a config file."""

    user_facing = True

    def __init__(self, name: str):
        self.name = name
        self.choices = sorted(VARIANT_CONFIGS)
        super().__init__(
            f'"{name}" is neither an upstream FAN variant name '
            f'({", ".join(self.choices)}) nor a config file.')


def load_model_config(model: Union[str, Config]) -> Config:
    """A copy of ``model`` if it is a Config, else the config of the variant
    name or the config file ``model``.

    Raises:
        UnknownModelError: ``model`` is neither.
    """
    if isinstance(model, Config):
        return copy.deepcopy(model)
    if canonical_variant(model) in VARIANT_CONFIGS:
        return Config.fromfile(str(variant_config(model)))
    if osp.isfile(model):
        return Config.fromfile(model)
    raise UnknownModelError(model)


def _model_dict(cfg: Config) -> dict:
    return copy.deepcopy(cfg.model.to_dict() if hasattr(
        cfg.model, 'to_dict') else dict(cfg.model))


def inference_model_cfg(cfg: Config) -> dict:
    """The model part of ``cfg`` ready to build for inference.

    - The config-level ``data_preprocessor`` (mean/std/to_rgb) is merged in,
      as the Runner and mmpretrain's own ``init_model`` do; without it the
      images would not be normalised.
    - An STL student (``STLClassifier``) is built as the plain
      ``ImageClassifier`` it is at test time: no frozen teacher is built or
      loaded, and its training-only batch mixing is dropped.
    - ``init_cfg`` (initialisation from other weights) is dropped.
    """
    model_cfg = _model_dict(cfg)
    model_cfg.pop('init_cfg', None)
    preprocessor = model_cfg.get('data_preprocessor')
    if preprocessor is None and cfg.get('data_preprocessor') is not None:
        preprocessor = copy.deepcopy(dict(cfg.data_preprocessor))
    if model_cfg.get('type') in STL_TYPES:
        model_cfg['type'] = 'ImageClassifier'
        for key in _STL_ONLY_KEYS:
            model_cfg.pop(key, None)
        if preprocessor is not None:
            preprocessor = {
                k: v for k, v in dict(preprocessor).items()
                if k not in ('type', 'mix', 'erase', 'pass_mix', 'batch_augments', 'teacher_key',
                             '_delete_')
            }
            preprocessor['type'] = 'ClsDataPreprocessor'
    if preprocessor is not None:
        preprocessor = dict(preprocessor)
        preprocessor.pop('_delete_', None)
        preprocessor.pop('batch_augments', None)  # training only
        model_cfg['data_preprocessor'] = preprocessor
    return model_cfg


def stl_student_model_cfg(cfg: Config,
                          teacher_checkpoint: Optional[str] = None,
                          teacher_amp: Optional[str] = 'config') -> dict:
    """The model part of an STL student for ``cfg``.

    An STL config keeps its student and teacher (the teacher checkpoint is
    replaced by ``teacher_checkpoint``). A token-labeler config is both the
    student's architecture and its teacher: the student gets the same
    model with ``head.mode='student'``, the STL data preprocessor (TokenMix)
    and the labeler as frozen teacher. ``teacher_amp`` other than
    ``'config'`` overrides the teacher's autocast (``'none'``: float32).
    """
    model_cfg = _model_dict(cfg)
    model_cfg.pop('init_cfg', None)
    if model_cfg['type'] in STL_TYPES:
        model_cfg['teacher'] = dict(model_cfg['teacher'],
                                    checkpoint=teacher_checkpoint)
    else:
        teacher = dict(model_cfg)
        preprocessor = cfg.get('data_preprocessor') or {}
        model_cfg.update(
            type='stl_mm.STLClassifier',
            head=dict(model_cfg['head'], mode='student'),
            teacher=dict(config=teacher, checkpoint=teacher_checkpoint),
            data_preprocessor=dict(
                type='stl_mm.STLDataPreprocessor',
                num_classes=model_cfg['head'].get('num_classes', 1000),
                mean=preprocessor.get('mean', _IMAGENET_MEAN),
                std=preprocessor.get('std', _IMAGENET_STD),
                to_rgb=preprocessor.get('to_rgb', True),
                mix=dict(type='stl_mm.TokenMix')))
    if teacher_amp != 'config':
        model_cfg['teacher']['amp'] = (None if teacher_amp in (None, 'none')
                                       else teacher_amp)
    return model_cfg
