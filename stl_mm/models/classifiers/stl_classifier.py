"""STL student: an image classifier trained with an online, frozen token
labeler (teacher).

How the teacher is kept out of training machinery:

- It is held by a :class:`FrozenTeacher` stored with ``object.__setattr__``,
  i.e. outside ``nn.Module``'s registries. Hence it is absent from
  ``parameters()`` (the optimizer never sees it), from ``state_dict()``
  (student checkpoints hold no teacher keys; resuming rebuilds the teacher
  from ``teacher['config']`` and ``teacher['checkpoint']``), from
  ``train()``/``init_weights()`` and from DDP's parameter sync.
- ``FrozenTeacher.__deepcopy__`` returns the object itself, so mmengine's
  ``EMAHook`` (which deep-copies the whole model) shares the one teacher
  instead of duplicating it.
- It is always in eval mode (its ``train()`` is a no-op that keeps eval, so
  BatchNorm statistics never move), all its parameters have
  ``requires_grad=False`` and it runs under ``torch.no_grad()``.
- Device moves of the student (``to()/cuda()/cpu()``, all through
  ``_apply``) move it too; :meth:`STLClassifier.loss` also moves it lazily
  to the device of the batch.
"""
import copy
import glob
import inspect
import warnings
from contextlib import nullcontext
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.registry import DefaultScope
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.structures import DataSample

from stl_mm.registry import MODELS
from stl_mm.utils.amp import (TEACHER_AMP_CHOICES, cpu_has_native_bf16,
                              teacher_autocast_dtype)
from ..backbones.fan import check_fits_model, load_fan_checkpoint
from ..utils.data_preprocessor import STLDataPreprocessor
from ..utils.token_labels import (TOKEN_LABEL_METHODS, generate_token_labels,
                                  mix_token_labels)
from ..utils.token_mix import MixParams

__all__ = ['STLClassifier', 'FrozenTeacher', 'teacher_autocast_dtype',
           'cpu_has_native_bf16']

class FrozenTeacher(nn.Module):
    """A frozen token labeler: eval mode, no gradients, shared on deepcopy.

    Args:
        model: a classifier with ``extract_feat`` and a head returning
            ``(cls_logits, token_logits)`` (e.g. ``ImageClassifier`` with
            ``stl_mm.TokenLabelHead``).
        amp_dtype: ``'auto'`` (default), ``'fp16'``, ``'bf16'`` or None
            (float32); see :func:`teacher_autocast_dtype` for what runs on
            which device. The logits are returned in float32 either way.
    """

    def __init__(self, model: nn.Module, amp_dtype: Optional[str] = 'auto'):
        super().__init__()
        if amp_dtype is not None and amp_dtype not in TEACHER_AMP_CHOICES:
            raise ValueError(
                f'teacher amp must be one of {list(TEACHER_AMP_CHOICES)} or '
                f'None (float32), got {amp_dtype!r}')
        self.model = model
        self.amp_dtype = amp_dtype
        model.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True):
        """Stays in eval mode whatever ``mode`` is."""
        return super().train(False)

    def __deepcopy__(self, memo):
        memo[id(self)] = self
        return self

    @property
    def device(self) -> torch.device:
        for tensor in self.model.parameters():
            return tensor.device
        for tensor in self.model.buffers():
            return tensor.device
        return torch.device('cpu')

    def _autocast(self, device: torch.device):
        dtype = teacher_autocast_dtype(self.amp_dtype, device)
        if dtype is None:
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=dtype)

    @torch.no_grad()
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Token logits ``(B, N, K)`` in float32."""
        if any(m.training for m in self.modules()):
            super().train(False)  # train() was bypassed: never run in train
        with self._autocast(inputs.device):
            outputs = self.model.head(self.model.extract_feat(inputs))
        if not (isinstance(outputs, (tuple, list)) and len(outputs) == 2
                and outputs[1].dim() == 3):
            raise TypeError('The teacher head must return (cls_logits, '
                            'token_logits (B, N, K)), e.g. '
                            'stl_mm.TokenLabelHead.')
        return outputs[1].float()


def _resolve_model_cfg(config) -> dict:
    """A plain model config dict from a dict, a Config or a file path."""
    if isinstance(config, str):
        config = Config.fromfile(config)
    if isinstance(config, Config):
        config = config.to_dict()
    if not isinstance(config, dict):
        raise TypeError('teacher["config"] must be a model config dict or '
                        f'a config file path, got {type(config)}')
    if 'type' not in config and 'model' in config:
        config = config['model']
    config = ConfigDict(copy.deepcopy(config)).to_dict()
    # Training-only parts of a phase-1 model config are not needed by a
    # frozen teacher: its batch augment / data preprocessor (the student's
    # preprocessor normalises the teacher view) and initialisation from
    # other weights.
    for key in ('train_cfg', 'init_cfg', 'pretrained', 'data_preprocessor'):
        config.pop(key, None)
    return config


def resolve_checkpoint_pattern(path: str) -> str:
    """``path`` itself, or the one file a glob pattern matches.

    The phase-1 configs keep the best EMA checkpoint as
    ``best_accuracy_top1_epoch_<N>.pth`` (mmengine's ``save_best`` name,
    which carries the epoch), so the student configs name their teacher
    ``.../best_accuracy_top1_epoch_*.pth``; mmengine deletes the previous
    best file, so exactly one matches.
    """
    if not glob.has_magic(str(path)):
        return path
    matches = sorted(glob.glob(str(path)))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise FileNotFoundError(
            f'No teacher checkpoint matches "{path}": train the phase-1 '
            'token labeler first (its best EMA checkpoint lands there), or '
            'set --cfg-options model.teacher.checkpoint=<phase-1 file>.')
    raise ValueError(
        f'Several teacher checkpoints match "{path}": {matches}. Name one '
        'with --cfg-options model.teacher.checkpoint=<file>.')


def _checked_preprocessor_cfg(cfg):
    """``STLDataPreprocessor`` by default; refuse a partial dict.

    A dict without ``type`` is what ``--cfg-options
    model.data_preprocessor.X=...`` makes when the config keeps its
    preprocessor elsewhere: built as is, it would train on raw pixels (no
    mean/std, no BGR->RGB) without any error.
    """
    if cfg is None:
        return dict(type='stl_mm.STLDataPreprocessor')
    if isinstance(cfg, dict) and 'type' not in cfg:
        raise ValueError(
            f'model.data_preprocessor {dict(cfg)} has no type: a partial '
            'preprocessor would train without normalisation. Give the full '
            "preprocessor under model.data_preprocessor (type='stl_mm."
            "STLDataPreprocessor', mean, std, to_rgb, mix ...), as the "
            'configs in configs/stl do.')
    return cfg


def _token_count(backbone: nn.Module, size: Tuple[int, int]) -> int:
    """Number of patch tokens ``backbone`` makes of a ``size`` image.

    Runs the backbone on the meta device (no memory, no compute, no state
    change); falls back to a real forward in eval mode under no_grad (with
    the train/eval flags restored) for modules that have no meta kernels.
    """
    out = None
    try:
        state = {name: torch.empty_like(t, device='meta')
                 for name, t in list(backbone.named_parameters()) +
                 list(backbone.named_buffers())}
        with torch.no_grad():
            out = torch.func.functional_call(
                backbone, state, (torch.empty(1, 3, *size, device='meta'), ))
    except Exception:  # no meta kernel somewhere: run it for real
        flags = [(m, m.training) for m in backbone.modules()]
        param = next(backbone.parameters(), None)
        device = param.device if param is not None else 'cpu'
        try:
            backbone.eval()
            with torch.no_grad():
                out = backbone(torch.zeros(1, 3, *size, device=device))
        finally:
            for module, training in flags:
                module.training = training
    last = out[-1] if isinstance(out, (tuple, list)) else out
    if not (isinstance(last, (tuple, list)) and len(last) == 2
            and last[1].dim() == 3):
        raise TypeError(
            'The backbone must return ((cls, patch),) with patch tokens '
            "(B, N, C) (stl_mm.FAN: out_type='cls_and_patch').")
    return int(last[1].shape[1])


@MODELS.register_module()
class STLClassifier(ImageClassifier):
    """Image classifier whose dense head learns from a frozen token labeler.

    ``loss`` flow: (the data preprocessor has mixed the student view and the
    image targets and recorded the mixing) -> teacher token logits on the
    unmixed teacher view -> token labels (Gumbel/argmax/softmax/mean +
    smoothing) -> token labels mixed with the recorded permutation, lambda
    and box -> student forward -> head loss.

    Args:
        backbone / neck / head / pretrained / train_cfg / init_cfg: as
            :class:`mmpretrain.models.ImageClassifier`; the head must take
            ``token_targets`` (``stl_mm.TokenLabelHead(mode='student')``).
        teacher (dict): ``config`` (model config dict, a config dict with a
            ``model`` entry, or a config file path), ``checkpoint`` (phase-1
            mmengine checkpoint, EMAHook ones included, or an upstream
            ``.pth.tar``; None only for smoke tests: a random teacher),
            ``prefer_ema`` (default True), ``trusted`` (see
            :func:`stl_mm.utils.checkpoint.safe_load`), ``amp``
            (``'auto'`` default: fp16 on GPUs, bf16 on CPUs with native
            bf16, else float32; or ``'fp16'``, ``'bf16'``, None).
        token_label (dict): keyword arguments of
            :func:`~stl_mm.models.utils.token_labels.generate_token_labels`
            (defaults: ``method='gumbel', tau=1., hard=True,
            smoothing=0.1``).
        grid_check_size (tuple): image size of the build-time check that
            student and teacher make the same token grid; None skips it.
        data_preprocessor (dict): defaults to
            ``stl_mm.STLDataPreprocessor``.
    """

    def __init__(self,
                 backbone: dict,
                 teacher: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 token_label: Optional[dict] = None,
                 grid_check_size: Optional[Tuple[int, int]] = (64, 64),
                 pretrained: Optional[str] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        data_preprocessor = _checked_preprocessor_cfg(data_preprocessor)
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            train_cfg=train_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self._connect_preprocessor()
        self.token_label_cfg = dict(method='gumbel', tau=1., hard=True,
                                    smoothing=0.1)
        self.token_label_cfg.update(token_label or {})
        self._check_token_label_cfg(self.token_label_cfg)
        self.teacher_cfg = copy.deepcopy(dict(teacher))
        object.__setattr__(self, '_teacher', self._build_teacher(teacher))
        if grid_check_size is not None:
            self.check_token_grids(tuple(grid_check_size))

    def _connect_preprocessor(self) -> None:
        """Build-time wiring of the batch-level mix record: the
        preprocessor hands it to :meth:`loss` (``pass_mix``), and a
        token-grid CutMix takes its stride from the backbone (the one
        definition of the FAN stride)."""
        pre = self.data_preprocessor
        if not isinstance(pre, STLDataPreprocessor):
            return
        pre.pass_mix = True
        mix = pre.mix
        strides = getattr(self.backbone, 'out_strides', None)
        stride = int(strides[-1]) if strides else None
        if mix is None or stride is None:
            return
        if mix.patch_size is None:
            mix.patch_size = stride
        elif mix.mix_token_labels and mix.patch_size != stride:
            raise ValueError(
                f'model.data_preprocessor.mix.patch_size={mix.patch_size} '
                f'but the backbone stride is {stride}: the CutMix boxes '
                'would not follow the token grid. Drop patch_size (it is '
                'taken from the backbone).')

    @property
    def token_stride(self) -> Optional[int]:
        """The patch-token stride: the backbone's ``out_strides`` (FAN), else
        the ``patch_size`` given to the preprocessor's mix, else None."""
        strides = getattr(self.backbone, 'out_strides', None)
        if strides:
            return int(strides[-1])
        mix = getattr(self.data_preprocessor, 'mix', None)
        return getattr(mix, 'patch_size', None)

    def token_grid(self, img_hw: Tuple[int, int]) -> Tuple[int, int]:
        """The ``(h, w)`` token grid of an ``img_hw`` image."""
        stride = self.token_stride
        if stride is None:
            raise ValueError(
                'The token stride is unknown: the backbone has no '
                'out_strides; set model.data_preprocessor.mix.patch_size.')
        return int(img_hw[0]) // stride, int(img_hw[1]) // stride

    @staticmethod
    def _check_token_label_cfg(cfg: dict) -> None:
        """Fail at build time on bad token-label options (without drawing
        random numbers)."""
        try:
            inspect.signature(generate_token_labels).bind(None, **cfg)
        except TypeError as error:
            raise TypeError(f'Bad token_label options {cfg}: {error}')
        if cfg.get('method') not in TOKEN_LABEL_METHODS:
            raise ValueError('token_label method must be one of '
                             f'{TOKEN_LABEL_METHODS}, got '
                             f'{cfg.get("method")!r}')

    # ------------------------------------------------------------------
    # teacher
    # ------------------------------------------------------------------
    @property
    def teacher(self) -> FrozenTeacher:
        """The frozen token labeler (not a registered submodule)."""
        return self.__dict__['_teacher']

    @staticmethod
    def _build_teacher(teacher: dict) -> FrozenTeacher:
        if not isinstance(teacher, dict) or 'config' not in teacher:
            raise TypeError("teacher must be a dict with 'config' (and "
                            "normally 'checkpoint')")
        unknown = set(teacher) - {'config', 'checkpoint', 'prefer_ema',
                                  'trusted', 'amp'}
        if unknown:
            raise ValueError(f'Unknown teacher options {sorted(unknown)}')
        cfg = _resolve_model_cfg(teacher['config'])
        if DefaultScope.get_current_instance() is None:
            cfg.setdefault('_scope_', 'mmpretrain')
        model = MODELS.build(cfg)
        if not hasattr(getattr(model, 'head', None), 'aux_fc'):
            from stl_mm.utils.errors import UserError
            raise UserError(
                'The teacher (model.teacher.config) must be a phase-1 token '
                "labeler (head 'stl_mm.TokenLabelHead', backbone out_type="
                "'cls_and_patch'), but its head is "
                f'{type(getattr(model, "head", None)).__name__}, a plain '
                'classifier without token logits.')

        checkpoint = teacher.get('checkpoint')
        if checkpoint is None:
            warnings.warn('STLClassifier: no teacher checkpoint given, the '
                          'token labeler has RANDOM weights (only useful '
                          'for smoke tests).')
        else:
            checkpoint = resolve_checkpoint_pattern(checkpoint)
            state = load_fan_checkpoint(
                checkpoint, prefer_ema=teacher.get('prefer_ema', True),
                trusted=teacher.get('trusted'))
            # shapes are compared before loading: load_state_dict would
            # raise torch's list of every size mismatch instead
            check_fits_model(model.state_dict(), state, checkpoint,
                             what='teacher', strict_unexpected=True,
                             note=' The teacher (model.teacher.config) is '
                             'the phase-1 token labeler: backbone + head.fc '
                             '+ head.aux_fc.')
            model.load_state_dict(state, strict=False)
            print_log(f'STL teacher loaded from {checkpoint}',
                      logger='current')
        return FrozenTeacher(model, amp_dtype=teacher.get('amp', 'auto'))

    def check_token_grids(self, size: Tuple[int, int]) -> None:
        """Raise ``ValueError`` unless student and teacher make the same
        token grid and the same number of classes."""
        n_student = _token_count(self.backbone, size)
        n_teacher = _token_count(self.teacher.model.backbone, size)
        if n_student != n_teacher:
            raise ValueError(
                f'Student and teacher token grids differ: a {size[0]}x'
                f'{size[1]} image gives {n_student} student tokens '
                f'({type(self.backbone).__name__}) but {n_teacher} teacher '
                f'tokens ({type(self.teacher.model.backbone).__name__}). '
                'Token labels need the same patch stride for both models '
                '(FAN: 16; set LV-ViT patch_size=16).')
        k_student = getattr(self.head, 'num_classes', None)
        k_teacher = getattr(self.teacher.model.head, 'num_classes', None)
        if None not in (k_student, k_teacher) and k_student != k_teacher:
            raise ValueError(f'Student has {k_student} classes, teacher '
                             f'{k_teacher}.')

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        teacher = self.__dict__.get('_teacher')
        if teacher is not None:
            teacher._apply(fn, *args, **kwargs)
        return self

    def train(self, mode: bool = True):
        super().train(mode)
        teacher = self.__dict__.get('_teacher')
        if teacher is not None:
            teacher.train(False)
        return self

    @torch.no_grad()
    def token_labels(self, teacher_inputs: torch.Tensor) -> torch.Tensor:
        """Unmixed ``(B, N, K)`` token targets of the teacher view."""
        teacher = self.teacher
        if teacher.device != teacher_inputs.device:
            teacher.to(teacher_inputs.device)
        logits = teacher(teacher_inputs)
        return generate_token_labels(logits, **self.token_label_cfg)

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor',
                teacher_inputs: Optional[torch.Tensor] = None,
                mix: Optional[MixParams] = None):
        """As ``ImageClassifier.forward``; ``teacher_inputs`` (the unmixed
        teacher view) and ``mix`` (the batch's mix record), both from
        ``STLDataPreprocessor``, are used in ``'loss'`` mode only."""
        if mode == 'loss':
            return self.loss(inputs, data_samples, teacher_inputs, mix)
        return super().forward(inputs, data_samples, mode)

    def loss(self,
             inputs: torch.Tensor,
             data_samples: List[DataSample],
             teacher_inputs: Optional[torch.Tensor] = None,
             mix: Optional[MixParams] = None) -> dict:
        """Head losses of a (mixed) student batch ``(B, 3, H, W)``; the
        token targets ``(B, N, K)`` come from the teacher on
        ``teacher_inputs`` and are mixed by ``mix``."""
        mixed = mix is not None and mix.mixed
        if teacher_inputs is None:
            if mixed:
                raise ValueError(
                    'The batch was mixed but no teacher view was given: the '
                    'teacher must see the unmixed image. Add the teacher '
                    'view to the pipeline (stl_mm.AddTeacherView ... '
                    "PackInputs(algorithm_keys=['teacher_img'])).")
            teacher_inputs = inputs
        token_targets = self.token_labels(teacher_inputs)
        if mixed and mix.mix_token_labels:
            weight = mix.token_weight(self.token_grid(inputs.shape[-2:]),
                                      device=token_targets.device)
            token_targets = mix_token_labels(token_targets, mix.perm, weight)
        feats = self.extract_feat(inputs)
        return self.head.loss(feats, data_samples,
                              token_targets=token_targets)
