"""Export a classifier to ONNX and check the export against PyTorch.

The exported graph is self-contained for deployment:

- input ``image``: ``float32 (N, 3, H, W)``, **RGB, values 0..255**; the
  config's mean/std normalisation (and its channel order) is part of the
  graph;
- outputs, in this order: ``cls_logits`` ``(N, K)`` and, for token models
  (``stl_mm.TokenLabelHead``), ``token_logits`` ``(N, T, K)`` with
  ``T = (H / 16) * (W / 16)`` in row-major token order. The fusion of the
  two (``cls``, ``cls_plus_max``) is *not* in the graph; its rule is stored
  in the metadata and applied by ``tools/deployment/onnx_inference.py``.

The ONNX metadata (``metadata_props``, keys ``stl_mm.*``) carries what a
standalone runtime needs: class names, the fusion rule, the token stride and
the image preprocessing (the config's test pipeline as resize/crop steps).

Exporter: ``torch.onnx.export(dynamo=True)`` (``torch.export`` based). It
captures every FAN variant, fixed or with a dynamic batch and spatial size
(``H`` and ``W`` are exported as ``16 * h`` and ``16 * w`` with symbolic
``h``, ``w``, so the backbone's multiple-of-16 check is proven, not
guarded). The legacy TorchScript exporter is deprecated in torch 2.9+ and
not needed. Fused attention (``F.scaled_dot_product_attention``) is
translated to the ONNX ``Attention`` operator for opset >= 23 and otherwise
decomposed into ``MatMul`` (with the 1/sqrt(d) scale folded in), ``Softmax``
and ``MatMul``.
"""
import json
import os
import os.path as osp
import statistics
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

__all__ = [
    'ExportError', 'OnnxClassifier', 'ExportResult', 'VerifyResult',
    'export_onnx', 'verify_onnx', 'load_for_export', 'preprocess_steps',
    'deployment_metadata', 'default_input_size', 'pytorch2onnx',
    'benchmark_onnx', 'DEFAULT_OPSET', 'VERIFY_TOLERANCE'
]

INPUT_NAME = 'image'
CLS_OUTPUT = 'cls_logits'
TOKEN_OUTPUT = 'token_logits'
META_PREFIX = 'stl_mm.'
#: patch stride of FAN token grids: input sides must be multiples of it
STRIDE = 16
#: opset 18 runs on every current runtime (onnxruntime >= 1.14, TensorRT 8.6+)
DEFAULT_OPSET = 18
#: ONNX opsets from which SDPA becomes one ``Attention`` node
ATTENTION_OPSET = 23
VERIFY_TOLERANCE = 1e-4
_MAX_SIDE = 4096  # upper bound of the dynamic spatial size
_INSTALL_HINT = ('install the deployment extra: pip install -r '
                 'requirements/deploy.txt (or pip install -e ".[deploy]")')
# interpolation names of the mmcv 'pillow' backend that Pillow also has
_PILLOW_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'box', 'lanczos',
                          'hamming')


class ExportError(ValueError):
    """A user error in an export request (printed as one line by tools)."""

    user_facing = True  # stl_mm.utils.cli prints the message alone


def _require(module: str):
    try:
        return __import__(module)
    except ImportError as error:
        raise ExportError(f'{module} is not installed: {_INSTALL_HINT}.') \
            from error


# --------------------------------------------------------------------------
# the exported module
# --------------------------------------------------------------------------
class OnnxClassifier(nn.Module):
    """A classifier with its input normalisation, as it is exported.

    ``forward(image)`` takes ``(N, 3, H, W)`` RGB values in 0..255 and
    returns ``(cls_logits (N, K),)`` or, for token models,
    ``(cls_logits (N, K), token_logits (N, T, K))``.

    Args:
        classifier: an mmpretrain ``ImageClassifier`` (e.g. from
            :func:`stl_mm.apis.init_model`) whose ``data_preprocessor``
            holds the mean/std and channel conversion of its config.
    """

    def __init__(self, classifier: nn.Module):
        super().__init__()
        pre = classifier.data_preprocessor
        divisor = int(getattr(pre, 'pad_size_divisor', 1) or 1)
        if STRIDE % divisor:
            raise ExportError(
                f'The data preprocessor pads to multiples of {divisor}, '
                'which the exported graph does not do; export a config with '
                f'pad_size_divisor 1 or a divisor of {STRIDE}.')
        if getattr(pre, '_enable_normalize', False):
            mean = pre.mean.detach().float().reshape(1, -1, 1, 1).clone()
            std = pre.std.detach().float().reshape(1, -1, 1, 1).clone()
        else:
            mean, std = torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1)
        if mean.shape[1] != 3:
            raise ExportError('Only 3-channel image models can be exported; '
                              f'the preprocessor has {mean.shape[1]} '
                              'channels.')
        self.register_buffer('mean', mean, persistent=False)
        self.register_buffer('std', std, persistent=False)
        # ClsDataPreprocessor(to_rgb=True) turns the pipeline's BGR images
        # into RGB: the model sees RGB, the input order. Without to_rgb the
        # model was trained on BGR, and the graph reverses the channels.
        to_rgb = getattr(pre, 'to_rgb',
                         getattr(pre, '_channel_conversion', False))
        self.reverse_channels = not to_rgb
        self.classifier = classifier

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = image.flip(1) if self.reverse_channels else image
        x = (x - self.mean) / self.std
        outputs = self.classifier.head(self.classifier.extract_feat(x))
        if isinstance(outputs, (tuple, list)):
            return tuple(outputs)
        return (outputs, )


def _is_token_model(classifier: nn.Module) -> bool:
    from stl_mm.models.heads import TokenLabelHead
    return isinstance(getattr(classifier, 'head', None), TokenLabelHead)


def _output_names(classifier: nn.Module) -> List[str]:
    if _is_token_model(classifier):
        return [CLS_OUTPUT, TOKEN_OUTPUT]
    return [CLS_OUTPUT]


# --------------------------------------------------------------------------
# metadata: preprocessing, fusion, class names
# --------------------------------------------------------------------------
def _check_size(shape: Sequence[int], what: str = '--shape') -> Tuple[int,
                                                                      int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or min(shape) < STRIDE or any(s % STRIDE
                                                      for s in shape):
        fix = ' '.join(str(max(STRIDE, (s + STRIDE // 2) // STRIDE * STRIDE))
                       for s in shape)
        raise ExportError(
            f'{what} {" ".join(map(str, shape))} is not a pair of multiples '
            f'of {STRIDE} (the FAN patch stride); use e.g. {what} {fix}.')
    return shape


def _pipeline(cfg) -> list:
    try:
        return [dict(step) for step in cfg.test_dataloader.dataset.pipeline]
    except AttributeError:
        return []


def _crop_hw(crop_size) -> Tuple[int, int]:
    """mmcv ``CenterCrop.crop_size`` (int or ``(w, h)``) -> ``(h, w)``."""
    if isinstance(crop_size, int):
        return crop_size, crop_size
    return int(crop_size[1]), int(crop_size[0])


def _pipeline_size(pipeline: list) -> Optional[Tuple[int, int]]:
    """``(H, W)`` a pipeline's last crop or fixed-size resize produces."""
    size = None
    for step in pipeline:
        kind = step['type'].split('.')[-1]
        if step.get('transforms'):  # wrappers such as stl_mm.TwoViewSpatial
            size = _pipeline_size([dict(t) for t in step['transforms']]) \
                or size
        elif kind == 'CenterCrop':
            size = _crop_hw(step['crop_size'])
        elif kind in ('Resize', 'RandomResizedCrop') and not step.get(
                'keep_ratio', False):
            scale = step['scale']
            size = ((scale, scale) if isinstance(scale, int)
                    else (int(scale[1]), int(scale[0])))
    return size


def default_input_size(cfg) -> Tuple[int, int]:
    """``(H, W)`` the config's test pipeline produces; if it keeps the
    image size, the training crop size; else 224x224."""
    size = _pipeline_size(_pipeline(cfg))
    if size is None:
        try:
            train = [dict(s) for s in cfg.train_dataloader.dataset.pipeline]
        except AttributeError:
            train = []
        size = _pipeline_size(train)
    return size or (224, 224)


def _interp(step: dict) -> str:
    name = step.get('interpolation', 'bilinear')
    return name if name in _PILLOW_INTERPOLATIONS else 'bilinear'


def _pipeline_steps(cfg) -> Tuple[Optional[list], List[str]]:
    """The config's test pipeline as standalone steps, or ``None`` when a
    step has no standalone equivalent; plus notes for the user."""
    steps, notes = [], []
    for step in _pipeline(cfg):
        kind = step['type'].split('.')[-1]
        if kind in ('LoadImageFromFile', 'PackInputs'):
            continue
        if step.get('backend', 'cv2') != 'pillow' and kind in (
                'ResizeEdge', 'Resize'):
            backend = step.get('backend', 'cv2')
            notes.append(f'the config resizes with the {backend} backend; '
                         'the standalone script uses Pillow, whose result '
                         'differs slightly')
        if kind == 'ResizeEdge':
            steps.append(dict(op='resize_edge', edge=step.get('edge',
                                                              'short'),
                              size=int(step['scale']),
                              interpolation=_interp(step)))
        elif kind == 'Resize' and not step.get('keep_ratio', False):
            scale = step['scale']
            h, w = ((scale, scale) if isinstance(scale, int)
                    else (int(scale[1]), int(scale[0])))
            steps.append(dict(op='resize', size=[h, w],
                              interpolation=_interp(step)))
        elif kind == 'CenterCrop' and not step.get('auto_pad', False):
            steps.append(dict(op='center_crop',
                              size=list(_crop_hw(step['crop_size']))))
        else:
            notes.append(f'the test pipeline step {kind} has no standalone '
                         'equivalent; onnx_inference.py resizes and '
                         'center-crops to the input size instead')
            return None, notes
    return steps, notes


def preprocess_steps(cfg, shape: Tuple[int, int],
                     dynamic: bool) -> Tuple[list, List[str]]:
    """Image preprocessing of the standalone runtime, as a list of steps.

    - dynamic models: ``round_to_multiple`` (the image keeps its size,
      resized to the nearest multiples of 16);
    - fixed models whose size the config's test pipeline produces: that
      pipeline (``resize_edge``/``resize``/``center_crop``), so that the
      results equal :func:`stl_mm.apis.inference_model`;
    - other fixed sizes: ``resize_cover`` (keep the aspect ratio, cover
      ``H x W``) and ``center_crop`` to ``H x W``.

    Returns ``(steps, notes)``; the notes say where the runtime will differ
    from the config's pipeline.
    """
    interpolation = 'bicubic'
    for step in _pipeline(cfg):
        if step['type'].split('.')[-1] in ('ResizeEdge', 'Resize'):
            interpolation = _interp(step)
    if dynamic:
        notes = []
        if any(s['type'].split('.')[-1] in ('ResizeEdge', 'Resize',
                                            'CenterCrop')
               for s in _pipeline(cfg)):
            notes.append('dynamic model: onnx_inference.py keeps each '
                         "image's size (rounded to multiples of 16) instead "
                         "of the config's resize/crop")
        return [dict(op='round_to_multiple', divisor=STRIDE,
                     interpolation=interpolation)], notes
    steps, notes = _pipeline_steps(cfg)
    produces = _pipeline_size(_pipeline(cfg))
    if steps is not None and produces == tuple(shape):
        return steps, notes
    if steps is not None and produces is None:
        notes.append("the config's test pipeline keeps the image size; "
                     'onnx_inference.py resizes (covering) and center-crops '
                     f'to {shape[0]}x{shape[1]} (no change for images of '
                     'that size)')
    elif steps is not None:
        notes.append(f'the model input {shape[0]}x{shape[1]} is not what the '
                     "config's test pipeline produces; onnx_inference.py "
                     'resizes (covering) and center-crops to it')
    return [dict(op='resize_cover', size=list(shape),
                 interpolation=interpolation),
            dict(op='center_crop', size=list(shape))], notes


def deployment_metadata(classifier: nn.Module, shape: Tuple[int, int],
                        dynamic: bool, steps: list) -> Dict[str, str]:
    """``metadata_props`` of the exported model (all values strings)."""
    from stl_mm.version import __version__
    cfg = classifier.cfg
    backbone = cfg.model.get('backbone', {})
    arch = backbone.get('arch')
    head = classifier.head
    meta = {
        'producer': f'stl_mm {__version__}',
        'arch': arch if isinstance(arch, str) else json.dumps(
            dict(arch) if arch is not None else None),
        'outputs': json.dumps(_output_names(classifier)),
        'input': json.dumps(dict(
            name=INPUT_NAME, layout='NCHW', channels='RGB',
            value_range=[0, 255], dtype='float32',
            size=None if dynamic else list(shape), dynamic=dynamic)),
        'preprocess': json.dumps(steps),
        'token_stride': str(STRIDE),
        'num_classes': str(getattr(head, 'num_classes', '')),
    }
    if _is_token_model(classifier):
        meta['fusion'] = json.dumps(dict(
            rule=head.fusion, max_weight=float(head.fusion_max_weight)))
    classes = (getattr(classifier, 'dataset_meta', None) or {}).get('classes')
    if classes:
        meta['classes'] = json.dumps(list(classes))
    return {META_PREFIX + k: v for k, v in meta.items()}


# --------------------------------------------------------------------------
# building the model
# --------------------------------------------------------------------------
def _expected_variant(cfg) -> Optional[str]:
    """Upstream variant name the config builds (token suffix by head)."""
    from stl_mm.models.backbones import FAN
    arch = cfg.model.get('backbone', {}).get('arch')
    if not isinstance(arch, str) or arch not in FAN.arch_zoo:
        return None
    head_type = str(cfg.model.get('head', {}).get('type', ''))
    base = arch[:-len('_token')] if arch.endswith('_token') else arch
    if head_type.endswith('TokenLabelHead') and base + '_token' in \
            FAN.arch_zoo:
        return base + '_token'
    return base


def _checkpoint_variant(checkpoint: str) -> Optional[str]:
    from stl_mm.models.utils import find_matching_arch, load_fan_checkpoint
    try:
        return find_matching_arch(load_fan_checkpoint(checkpoint))
    except Exception:  # noqa: BLE001 (unreadable: keep the first error)
        return None


def load_for_export(model: str, checkpoint: Optional[str],
                    cfg_options: Optional[dict] = None) -> nn.Module:
    """:func:`stl_mm.apis.init_model` on CPU, with one-line errors for the
    usual mistakes (unknown model, missing file, checkpoint of another
    variant)."""
    from mmengine.config import Config

    from stl_mm.apis import VARIANT_CONFIGS, init_model
    if not isinstance(model, Config) and model not in VARIANT_CONFIGS \
            and not osp.isfile(str(model)):
        raise ExportError(
            f'MODEL "{model}" is neither a FAN variant name '
            f'({", ".join(sorted(VARIANT_CONFIGS))}) nor a config file.')
    if checkpoint is not None and not checkpoint.startswith(
            ('http://', 'https://')) and not osp.isfile(checkpoint):
        raise ExportError(f'Checkpoint not found: "{checkpoint}".')
    try:
        return init_model(model, checkpoint, device='cpu',
                          cfg_options=cfg_options)
    except (ValueError, RuntimeError) as error:
        if checkpoint is None or isinstance(error, ExportError):
            raise
        cfg = (Config.fromfile(model) if osp.isfile(str(model)) else None)
        if cfg is None and model in VARIANT_CONFIGS:
            expected = model
        else:
            if cfg_options and cfg is not None:
                cfg.merge_from_dict(cfg_options)
            expected = _expected_variant(cfg) if cfg is not None else None
        found = _checkpoint_variant(checkpoint)
        if found is not None and found != expected:
            raise ExportError(
                f'The checkpoint "{checkpoint}" holds weights of the FAN '
                f"variant '{found}', not of {expected or model!r}: pass "
                f"'{found}' (or its config) as MODEL.") from error
        if 'does not fit' in str(error) or 'state_dict' in str(error):
            first = str(error).strip().splitlines()[0]
            raise ExportError(f'{first} Check that MODEL and CHECKPOINT '
                              'belong together.') from error
        raise


# --------------------------------------------------------------------------
# export and verification
# --------------------------------------------------------------------------
@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote."""
    path: str
    exporter: str
    opset: int
    input_shape: List[Union[int, str]]
    dynamic: bool
    outputs: List[str]
    metadata: Dict[str, str]
    seconds: float
    notes: List[str] = field(default_factory=list)


@dataclass
class VerifyResult:
    """Max abs difference of every output for one input shape."""
    input_shape: Tuple[int, ...]
    max_abs_diff: Dict[str, float]
    tolerance: float = VERIFY_TOLERANCE

    @property
    def worst(self) -> float:
        return max(self.max_abs_diff.values())

    @property
    def passed(self) -> bool:
        return self.worst < self.tolerance


def _dynamic_shapes(dynamic: bool):
    if not dynamic:
        return None
    from torch.export import Dim
    batch = Dim('batch', min=1, max=1024)
    h = Dim('h16', min=1, max=_MAX_SIDE // STRIDE)
    w = Dim('w16', min=1, max=_MAX_SIDE // STRIDE)
    return {'image': {0: batch, 2: STRIDE * h, 3: STRIDE * w}}


def export_onnx(classifier: nn.Module, output_file: str,
                shape: Optional[Sequence[int]] = None,
                dynamic: bool = False, batch_size: int = 1,
                opset: int = DEFAULT_OPSET) -> ExportResult:
    """Export ``classifier`` (from :func:`init_model`) to ``output_file``.

    Args:
        classifier: an mmpretrain classifier in eval mode with ``cfg``.
        output_file: the ``.onnx`` file to write (weights inside it).
        shape: ``(H, W)``, multiples of 16; default: what the config's test
            pipeline produces (224x224 for the ImageNet configs).
        dynamic: batch, ``H`` and ``W`` dynamic (any multiples of 16).
        batch_size: the (fixed) batch size; for dynamic models only that of
            the example input.
        opset: ONNX opset (>= 18; 23 exports attention as one node).

    Returns:
        :class:`ExportResult`.
    """
    _require('onnx')
    _require('onnxscript')
    import onnx
    if batch_size < 1:
        raise ExportError(f'--batch-size must be at least 1, got '
                          f'{batch_size}.')
    max_opset = getattr(getattr(torch.onnx, '_constants', None),
                        'ONNX_MAX_OPSET', ATTENTION_OPSET)
    if not 18 <= opset <= max_opset:
        raise ExportError(f'--opset {opset} is not supported: this exporter '
                          f'writes opsets 18 to {max_opset}.')
    shape = _check_size(shape or default_input_size(classifier.cfg))
    steps, notes = preprocess_steps(classifier.cfg, shape, dynamic)
    wrapper = OnnxClassifier(classifier).eval()
    names = _output_names(classifier)
    # torch.export specialises a dynamic dimension whose example size is 1
    example_batch = max(batch_size, 2) if dynamic else batch_size
    example = torch.rand(example_batch, 3, *shape) * 255
    out_dir = osp.dirname(osp.abspath(output_file))
    os.makedirs(out_dir, exist_ok=True)
    start = time.perf_counter()
    with torch.no_grad():
        program = torch.onnx.export(
            wrapper, (example, ), dynamo=True, opset_version=opset,
            input_names=[INPUT_NAME], output_names=names,
            dynamic_shapes=_dynamic_shapes(dynamic), optimize=True,
            verify=False, report=False, verbose=False)
    proto = program.model_proto
    metadata = deployment_metadata(classifier, shape, dynamic, steps)
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save_model(proto, output_file)
    seconds = time.perf_counter() - start
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    input_shape = [d.dim_param or d.dim_value for d in dims]
    return ExportResult(path=output_file, exporter='torch.onnx.export '
                        '(dynamo=True)', opset=opset,
                        input_shape=input_shape, dynamic=dynamic,
                        outputs=names, metadata=metadata, seconds=seconds,
                        notes=notes)


def _session(onnx_file: str, threads: Optional[int] = None):
    ort = _require('onnxruntime')
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(onnx_file, options,
                                providers=['CPUExecutionProvider'])


def verify_onnx(onnx_file: str, classifier: nn.Module,
                shapes: Sequence[Tuple[int, int, int]], seed: int = 0,
                tolerance: float = VERIFY_TOLERANCE) -> List[VerifyResult]:
    """Run random images (0..255) of each ``(N, H, W)`` in ``shapes``
    through PyTorch and onnxruntime; max abs difference per output."""
    wrapper = OnnxClassifier(classifier).eval()
    session = _session(onnx_file)
    names = [o.name for o in session.get_outputs()]
    rng = np.random.default_rng(seed)
    results = []
    for n, h, w in shapes:
        image = (rng.random((n, 3, h, w), dtype=np.float32) * 255).astype(
            np.float32)
        with torch.no_grad():
            expected = wrapper(torch.from_numpy(image))
        got = session.run(None, {INPUT_NAME: image})
        diffs = {
            name: float(np.abs(g - e.numpy()).max())
            for name, g, e in zip(names, got, expected)
        }
        results.append(VerifyResult((n, 3, h, w), diffs, tolerance))
    return results


def verify_shapes(shape: Tuple[int, int], dynamic: bool,
                  batch_size: int) -> List[Tuple[int, int, int]]:
    """The inputs a default verification runs: the export shape and, for
    dynamic models, a second, non-square size with another batch size."""
    shapes = [(batch_size, *shape)]
    if dynamic:
        shapes.append((batch_size + 1, shape[0] + 2 * STRIDE,
                       shape[1] + 4 * STRIDE))
    return shapes


def pytorch2onnx(model: str, checkpoint: Optional[str], output_file: str,
                 shape: Optional[Sequence[int]] = None,
                 dynamic: bool = False, batch_size: int = 1,
                 opset: int = DEFAULT_OPSET, verify: bool = True,
                 cfg_options: Optional[dict] = None,
                 tolerance: float = VERIFY_TOLERANCE,
                 log=print) -> Tuple[ExportResult, List[VerifyResult]]:
    """Build, export and (by default) verify; the body of
    ``tools/deployment/pytorch2onnx.py``. ``log`` receives report lines.

    Returns ``(export_result, verify_results)``; the caller decides what a
    difference above ``tolerance`` means (the tool exits 1).
    """
    if shape is not None:
        shape = _check_size(shape)  # before the (slow) model build
    if batch_size < 1:
        raise ExportError(f'--batch-size must be at least 1, got '
                          f'{batch_size}.')
    _require('onnx')
    _require('onnxruntime')
    classifier = load_for_export(model, checkpoint, cfg_options)
    result = export_onnx(classifier, output_file, shape, dynamic,
                         batch_size, opset)
    for note in result.notes:
        log(f'note: {note}')
    size = osp.getsize(output_file) / 2**20
    log(f'exported {output_file} ({size:.1f} MiB) with {result.exporter}, '
        f'opset {result.opset}, in {result.seconds:.1f} s')
    log(f'  input  {INPUT_NAME}: float32 {result.input_shape}, RGB 0..255 '
        '(normalisation inside)')
    log(f'  outputs: {", ".join(result.outputs)}')
    verified = []
    if verify:
        used = tuple(int(d) for d in result.input_shape[2:]) if not dynamic \
            else _check_size(shape or default_input_size(classifier.cfg))
        verified = verify_onnx(output_file, classifier,
                               verify_shapes(used, dynamic, batch_size),
                               tolerance=tolerance)
        for check in verified:
            parts = ', '.join(f'{k} {v:.2e}'
                              for k, v in check.max_abs_diff.items())
            status = 'ok' if check.passed else 'FAILED'
            log(f'verify {"x".join(map(str, check.input_shape))}: max abs '
                f'diff {parts} (tolerance {tolerance:g}): {status}')
    return result, verified


# --------------------------------------------------------------------------
# throughput
# --------------------------------------------------------------------------
def benchmark_onnx(classifier: nn.Module, onnx_file: str, batch_size: int,
                   shape: Tuple[int, int], threads: int = 1, iters: int = 10,
                   warmup: int = 2, cpu_time: bool = False
                   ) -> Dict[str, float]:
    """Images/s of onnxruntime (CPU) and PyTorch eager on one input.

    The two run in turns, one iteration each, and each gets the median of
    its iteration times, so that load changes of a shared machine affect
    both alike. Both use ``threads`` intra-op threads. ``cpu_time`` (one
    thread only) times the CPU time of the calling thread, which does all
    the work of both runtimes then, instead of the wall clock: other
    processes on the machine hardly change it.
    """
    if iters < 1 or warmup < 0 or threads < 1:
        raise ExportError('iters and threads must be >= 1, warmup >= 0.')
    if cpu_time and threads != 1:
        raise ExportError('--cpu-time needs --threads 1.')
    clock = time.thread_time if cpu_time else time.perf_counter
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        wrapper = OnnxClassifier(classifier).eval()
        session = _session(onnx_file, threads)
        image = np.random.default_rng(0).random(
            (batch_size, 3, *shape), dtype=np.float32) * 255
        tensor = torch.from_numpy(image)

        def run_torch():
            with torch.no_grad():
                wrapper(tensor)

        def run_ort():
            session.run(None, {INPUT_NAME: image})

        times = {'onnxruntime': [], 'pytorch': []}
        fns = {'onnxruntime': run_ort, 'pytorch': run_torch}
        for i in range(warmup + iters):
            for name, fn in fns.items():
                start = clock()
                fn()
                if i >= warmup:
                    times[name].append(clock() - start)
    finally:
        torch.set_num_threads(torch_threads)
    return {f'{name}_img_s': batch_size / statistics.median(record)
            for name, record in times.items()}
