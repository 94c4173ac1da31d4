"""Build a classifier and classify images in a few lines.

>>> from stl_mm.apis import init_model, inference_model
>>> model = init_model('fan_small_12_p4_hybrid_token',
...                    checkpoint='fan_small_12_p4_hybrid_token.pth.tar')
>>> result = inference_model(model, 'demo.jpg', topk=5)
>>> result[0]['pred_class'], result[0]['token_labels'].shape  # (H/16, W/16)
"""
import logging
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

from stl_mm.models.backbones.fan import (PATCH_STRIDE, check_state_matches,
                                         to_classifier_format)
from stl_mm.registry import MODELS
from stl_mm.utils.checkpoint_reader import read_checkpoint
from stl_mm.utils.setup_env import register_all_modules
from .config import inference_model_cfg, load_model_config

ImageInput = Union[str, np.ndarray]

#: patch stride of FAN token grids (defined once, in the backbone)
TOKEN_STRIDE = PATCH_STRIDE
def _classes_from_config(cfg: Config) -> Optional[List[str]]:
    """Class names from the config's test dataset, if it names them."""
    try:
        dataset = cfg.test_dataloader.dataset
    except AttributeError:
        return None
    classes = dataset.get('classes') or (dataset.get('metainfo') or {}).get(
        'classes')
    if isinstance(classes, str):  # a file with one name per line
        path = classes
        if not osp.isabs(path) and dataset.get('data_root'):
            path = osp.join(dataset['data_root'], path)
        if not osp.isfile(path):
            return None
        with open(path) as f:
            classes = [line.strip() for line in f if line.strip()]
    return list(classes) if classes else None


def _dataset_meta(cfg: Config, checkpoint_meta: Optional[dict],
                  num_classes: Optional[int]) -> dict:
    """``{'classes': [...]}`` from the checkpoint, the config or, for 1000
    classes, the ImageNet names; ``{}`` if none is known."""
    meta = {}
    if isinstance(checkpoint_meta, dict):
        meta = dict(checkpoint_meta.get('dataset_meta') or {})
        if not meta.get('classes') and checkpoint_meta.get('CLASSES'):
            meta['classes'] = checkpoint_meta['CLASSES']
    if not meta.get('classes'):
        classes = _classes_from_config(cfg)
        if classes:
            meta['classes'] = classes
    if not meta.get('classes') and num_classes == 1000:
        from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
        meta['classes'] = list(IMAGENET_CATEGORIES)
    classes = meta.get('classes')
    if classes is not None:
        classes = list(classes)
        if num_classes is not None and len(classes) != num_classes:
            return {}  # names of some other label space
        meta['classes'] = classes
    return meta


def _head_classes(state: dict) -> Optional[int]:
    """Class count of the classification head in a classifier-format state
    dict (rows of ``head.fc.weight``), or None when it has no such head."""
    weight = state.get('head.fc.weight')
    return int(weight.shape[0]) if weight is not None else None


def _fit_head(model_cfg: dict, state: dict, num_classes: Optional[int],
              checkpoint: str) -> dict:
    """Match the config's head to the checkpoint's class count.

    ``num_classes=None``: a checkpoint head with another class count than
    the config (e.g. 21841 for an ImageNet-22K file) sets the head's
    ``num_classes`` (one log line). ``num_classes=K``: the head gets ``K``
    classes; a checkpoint head of another size is left out of ``state`` (the
    head starts from its initialisation, with a warning). Returns the state
    to load.
    """
    from mmengine.logging import print_log
    head = model_cfg.get('head')
    ckpt_classes = _head_classes(state)
    if not isinstance(head, dict) or ckpt_classes is None:
        return state
    cfg_classes = head.get('num_classes')
    if num_classes is None:
        if ckpt_classes != cfg_classes:
            print_log(f'The checkpoint "{checkpoint}" has a {ckpt_classes}-'
                      f'class head (the config has {cfg_classes}); building '
                      f'the head with {ckpt_classes} classes.',
                      logger='current')
            head['num_classes'] = ckpt_classes
        return state
    head['num_classes'] = num_classes
    if ckpt_classes == num_classes:
        return state
    print_log(f'The checkpoint "{checkpoint}" has a {ckpt_classes}-class '
              f'head, {num_classes} classes were asked for: loading the '
              'backbone only; the head is freshly initialised and must be '
              'trained (fine-tuned) before its predictions mean anything.',
              logger='current', level=logging.WARNING)
    return {k: v for k, v in state.items() if not k.startswith('head.')}


def init_model(model: Union[str, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               prefer_ema: bool = True,
               cfg_options: Optional[dict] = None,
               num_classes: Optional[int] = None) -> torch.nn.Module:
    """Build an mmpretrain classifier in eval mode.

    Args:
        model: an upstream variant name (e.g. ``'fan_tiny_8_p4_hybrid'``),
            a config file or a :class:`Config`. An STL student config builds
            the student alone (an ``ImageClassifier``; no teacher).
        checkpoint: our mmengine checkpoint or an upstream ``.pth.tar``
            (EMA weights preferred); ``None`` keeps the initial weights.
        device: where to put the model.
        prefer_ema: take the EMA weights of a checkpoint that has them.
        cfg_options: overrides merged into the config.
        num_classes: class count of the head. ``None`` takes it from the
            checkpoint's head when that differs from the config (ImageNet-22K
            files: 21841), which is logged. A number different from the
            checkpoint's loads the backbone alone and leaves the head freshly
            initialised (with a warning), e.g. 1000 classes from a 22K file.

    Any input size runs (FAN and FAN-Swin compute their positional terms for
    every input), e.g. 384x384 for the ``*_384`` checkpoints.

    Returns:
        The classifier; ``model(x, mode='tensor')`` gives logits (B, K), or
        ``(cls_logits (B, K), token_logits (B, N, K))`` for token models.
        ``model.cfg`` holds the config and ``model.dataset_meta`` the class
        names when known (from the checkpoint, the config, or ImageNet's for
        1000 classes).
    """
    cfg = load_model_config(model)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    register_all_modules(init_default_scope=False)
    scope = cfg.get('default_scope', 'mmpretrain')
    model_cfg = inference_model_cfg(cfg)
    checkpoint_meta = state = None
    if checkpoint is not None:
        contents = read_checkpoint(checkpoint, prefer_ema=prefer_ema)
        state = to_classifier_format(contents.state_dict)
        checkpoint_meta = contents.meta
        state = _fit_head(model_cfg, state, num_classes, checkpoint)
    elif num_classes is not None and isinstance(model_cfg.get('head'), dict):
        model_cfg['head']['num_classes'] = num_classes
    with DefaultScope.overwrite_default_scope(scope):
        classifier = MODELS.build(model_cfg)
    if state is not None:
        adapt = getattr(getattr(classifier, 'backbone', None),
                        'adapt_to_checkpoint', None)
        if adapt is not None:  # LV-ViT: keep the file's pos-embedding grid
            state = adapt(state, prefix='backbone.')
        arch = model_cfg.get('backbone', {}).get('arch')
        check_state_matches(classifier.state_dict(), state,
                            arch if isinstance(arch, str) else None)
        head_kept = _head_classes(state) is not None
        missing, unexpected = classifier.load_state_dict(
            state, strict=head_kept)
        if not head_kept and (unexpected or any(
                not k.startswith('head.') for k in missing)):
            raise ValueError(
                f'Checkpoint "{checkpoint}" does not fit the model: missing '
                f'{[k for k in missing if not k.startswith("head.")][:5]}, '
                f'unexpected {unexpected[:5]}.')
    classifier.cfg = cfg
    classifier.dataset_meta = _dataset_meta(
        cfg, checkpoint_meta, getattr(classifier.head, 'num_classes', None))
    return classifier.to(device).eval()


def _test_pipeline(cfg: Config) -> Compose:
    pipeline = cfg.test_dataloader.dataset.pipeline
    steps = []
    for step in pipeline:
        step = dict(step)
        if step['type'].endswith('LoadImageFromFile'):
            continue  # images are loaded below, from paths or arrays
        steps.append(step)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        return Compose(steps)


def _read_image(image: ImageInput) -> np.ndarray:
    import mmcv
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError('image arrays must be HxWx3 (BGR, uint8), got '
                             f'shape {image.shape}')
        return image
    if not isinstance(image, str):
        raise TypeError('images must be file paths or HxWx3 BGR arrays, got '
                        f'{type(image).__name__}')
    if not osp.isfile(image):
        raise FileNotFoundError(f'Image not found: "{image}"')
    array = mmcv.imread(image)
    if array is None:
        raise ValueError(f'Cannot read the image "{image}" (corrupt or not '
                         'an image)')
    return array


def token_grid(num_tokens: int, height: int, width: int,
               stride: int = TOKEN_STRIDE) -> Tuple[int, int]:
    """``(h, w)`` of the row-major token grid of a ``height x width`` input
    that gave ``num_tokens`` patch tokens."""
    for rounding in (lambda v: v // stride, lambda v: -(-v // stride)):
        h, w = rounding(height), rounding(width)
        if h * w == num_tokens:
            return h, w
    raise ValueError(f'{num_tokens} tokens do not form a grid of stride '
                     f'{stride} on a {height}x{width} input.')


def preprocess(model: torch.nn.Module, images: Sequence[ImageInput]) -> list:
    """Run the model's test pipeline on images (paths or BGR arrays).

    Returns one packed dict per image (``inputs``: CHW uint8 tensor as fed
    to the data preprocessor, ``data_samples``).
    """
    pipeline = _test_pipeline(model.cfg)
    packed = []
    for image in images:
        array = _read_image(image)
        results = dict(img=array, img_shape=array.shape[:2],
                       ori_shape=array.shape[:2])
        if isinstance(image, str):
            results['img_path'] = image
        packed.append(pipeline(results))
    return packed


def same_shape_chunks(packed: list, batch_size: int):
    """Consecutive runs of equally shaped inputs, at most ``batch_size``
    long (differently sized images are never padded into one batch)."""
    start = 0
    while start < len(packed):
        end = start + 1
        shape = packed[start]['inputs'].shape
        while (end < len(packed) and end - start < batch_size
               and packed[end]['inputs'].shape == shape):
            end += 1
        yield start, packed[start:end]
        start = end


@torch.no_grad()
def forward_packed(model: torch.nn.Module, packed: list):
    """One forward pass on packed inputs of one shape.

    Returns ``(inputs, head_outputs, predictions)``: the normalised batch,
    the head's raw output (logits, or ``(cls_logits, token_logits)`` for
    token models) and the head's predictions (``DataSample`` list).
    """
    data = model.data_preprocessor(
        dict(inputs=[p['inputs'] for p in packed],
             data_samples=[p['data_samples'] for p in packed]), False)
    inputs = data['inputs']
    feats = model.extract_feat(inputs)  # the backbone runs once
    outputs = model.head(feats)
    samples = model.head.predict(feats, data['data_samples'])
    return inputs, outputs, samples


_same_shape_chunks = same_shape_chunks  # old private name


def token_maps(token_logits: torch.Tensor, grid: Tuple[int, int],
               with_probs: bool = True) -> dict:
    """Token labels of one image from its ``(N, K)`` token logits on its
    ``(h, w)`` token grid (``N = h * w``, row-major).

    Returns numpy arrays: ``token_labels`` (h, w) the arg-max class of each
    token, ``token_scores`` (h, w) its softmax probability and, with
    ``with_probs``, ``token_probs`` (h, w, K) the float32 softmax.
    """
    probs = token_logits.float().softmax(-1)
    scores, labels = probs.max(-1)
    maps = dict(token_labels=labels.reshape(grid).cpu().numpy(),
                token_scores=scores.reshape(grid).cpu().numpy())
    if with_probs:
        maps['token_probs'] = probs.reshape(*grid, -1).cpu().numpy()
    return maps


def token_logits_of(outputs) -> Optional[torch.Tensor]:
    """The ``(B, N, K)`` token logits of a head output, or None."""
    if (isinstance(outputs, (tuple, list)) and len(outputs) == 2
            and torch.is_tensor(outputs[1]) and outputs[1].dim() == 3):
        return outputs[1]
    return None


@torch.no_grad()
def inference_model(model: torch.nn.Module,
                    images: Union[ImageInput, Sequence[ImageInput]],
                    topk: int = 5,
                    batch_size: int = 8,
                    return_token_probs: bool = False) -> List[dict]:
    """Classify images with a model from :func:`init_model`.

    Args:
        model: the classifier (``model.cfg`` gives its test pipeline).
        images: a path, a BGR uint8 array (HxWx3), or a list of them.
        topk: how many classes to return per image.
        batch_size: images per forward pass (images of different sizes are
            run in separate passes).
        return_token_probs: token models only: also return ``token_probs``.

    Returns:
        One dict per image: ``topk_labels`` (list of int), ``topk_scores``
        (list of float, softmax of the fused logits), ``topk_classes`` (names
        when the model knows them), ``pred_label``/``pred_score``/
        ``pred_class`` (top-1), and for token models ``token_labels``
        (int array (h, w): the arg-max class of each token on the token
        grid, h = H/16 and w = W/16 of the network input), ``token_scores``
        (float array (h, w): its probability) and, if asked for,
        ``token_probs`` (float array (h, w, K)).
    """
    if isinstance(images, (str, np.ndarray)):
        images = [images]
    images = list(images)
    if topk < 1:
        raise ValueError(f'topk must be at least 1, got {topk}')
    if batch_size < 1:
        raise ValueError(f'batch_size must be at least 1, got {batch_size}')
    classes = (getattr(model, 'dataset_meta', None) or {}).get('classes')
    results = []
    for _, chunk in same_shape_chunks(preprocess(model, images),
                                       batch_size):
        inputs, outputs, samples = forward_packed(model, chunk)
        token_logits = token_logits_of(outputs)
        grid = None
        if token_logits is not None:
            grid = token_grid(token_logits.shape[1], inputs.shape[-2],
                              inputs.shape[-1])
        for i, sample in enumerate(samples):
            scores = sample.pred_score
            k = min(topk, scores.numel())
            top_scores, top_labels = scores.topk(k)
            result = dict(
                topk_labels=top_labels.tolist(),
                topk_scores=top_scores.tolist(),
                pred_label=int(top_labels[0]),
                pred_score=float(top_scores[0]))
            if classes is not None:
                result['topk_classes'] = [
                    classes[j] for j in result['topk_labels']
                ]
                result['pred_class'] = result['topk_classes'][0]
            if token_logits is not None:
                result.update(token_maps(token_logits[i], grid,
                                         with_probs=return_token_probs))
            results.append(result)
    return results
