"""Build a classifier and classify images in a few lines.

>>> from stl_mm.apis import init_model, inference_model
>>> model = init_model('fan_small_12_p4_hybrid_token',
...                    checkpoint='fan_small_12_p4_hybrid_token.pth.tar')
>>> result = inference_model(model, 'demo.jpg', topk=5)
>>> result[0]['pred_class'], result[0]['token_labels'].shape  # (H/16, W/16)
"""
import os.path as osp
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

from stl_mm.apis.model_zoo import VARIANT_CONFIGS, variant_config

ImageInput = Union[str, np.ndarray]


def _load_config(model: Union[str, Config]) -> Config:
    if isinstance(model, Config):
        return model
    if model in VARIANT_CONFIGS:
        return Config.fromfile(str(variant_config(model)))
    if osp.isfile(model):
        return Config.fromfile(model)
    raise ValueError(
        f'"{model}" is neither an upstream FAN variant name '
        f'({", ".join(sorted(VARIANT_CONFIGS))}) nor a config file.')


def init_model(model: Union[str, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               prefer_ema: bool = True,
               cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build an mmpretrain classifier in eval mode.

    Args:
        model: an upstream variant name (e.g. ``'fan_tiny_8_p4_hybrid'``),
            a config file or a :class:`Config`.
        checkpoint: our mmengine checkpoint or an upstream ``.pth.tar``
            (EMA weights preferred); ``None`` keeps the initial weights.
        device: where to put the model.
        prefer_ema: take the EMA weights of a checkpoint that has them.
        cfg_options: overrides merged into the config.

    Returns:
        The classifier; ``model(x, mode='tensor')`` gives logits (B, K), or
        ``(cls_logits (B, K), token_logits (B, N, K))`` for token models.
        ``model.cfg`` holds the config.
    """
    from stl_mm.models.utils import check_state_matches, load_fan_checkpoint
    from stl_mm.registry import MODELS
    from stl_mm.utils import register_all_modules

    cfg = _load_config(model)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    register_all_modules(init_default_scope=False)
    scope = cfg.get('default_scope', 'mmpretrain')
    model_cfg = cfg.model.copy()
    model_cfg.pop('init_cfg', None)
    with DefaultScope.overwrite_default_scope(scope):
        classifier = MODELS.build(model_cfg)
    if checkpoint is not None:
        state = load_fan_checkpoint(checkpoint, prefer_ema=prefer_ema)
        arch = model_cfg.backbone.get('arch')
        check_state_matches(classifier.state_dict(), state,
                            arch if isinstance(arch, str) else None)
        classifier.load_state_dict(state, strict=True)
    classifier.cfg = cfg
    return classifier.to(device).eval()


def _test_pipeline(cfg: Config) -> Compose:
    pipeline = cfg.test_dataloader.dataset.pipeline
    steps = []
    for step in pipeline:
        step = dict(step)
        if step['type'] in ('LoadImageFromFile', 'mmpretrain.LoadImageFromFile'
                            ) or step['type'].endswith('LoadImageFromFile'):
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
    if not osp.isfile(image):
        raise FileNotFoundError(f'Image not found: "{image}"')
    array = mmcv.imread(image)
    if array is None:
        raise ValueError(f'Cannot read the image "{image}" (corrupt or not '
                         'an image)')
    return array


@torch.no_grad()
def inference_model(model: torch.nn.Module,
                    images: Union[ImageInput, Sequence[ImageInput]],
                    topk: int = 5,
                    batch_size: int = 8) -> List[dict]:
    """Classify images with a model from :func:`init_model`.

    Args:
        model: the classifier (``model.cfg`` gives its test pipeline).
        images: a path, a BGR uint8 array (HxWx3), or a list of them.
        topk: how many classes to return per image.
        batch_size: images per forward pass.

    Returns:
        One dict per image: ``topk_labels`` (list of int), ``topk_scores``
        (list of float, softmax of the fused logits), ``topk_classes`` (names
        when the model knows them), ``pred_label``/``pred_score``/
        ``pred_class`` (top-1), and for token models ``token_labels``
        (int array (h, w): the arg-max class of each token on the token
        grid) and ``token_scores`` (float array (h, w): its probability).
    """
    if isinstance(images, (str, np.ndarray)):
        images = [images]
    pipeline = _test_pipeline(model.cfg)
    classes = (model.dataset_meta or {}).get('classes') if hasattr(
        model, 'dataset_meta') else None
    results = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        packed = [
            pipeline(dict(img=_read_image(img), img_shape=None,
                          ori_shape=None)) for img in chunk
        ]
        data = model.data_preprocessor(
            dict(inputs=[p['inputs'] for p in packed],
                 data_samples=[p['data_samples'] for p in packed]), False)
        inputs = data['inputs']
        feats = model.extract_feat(inputs)  # the backbone runs once
        outputs = model.head(feats)
        samples = model.head.predict(feats, data['data_samples'])
        token_logits = None
        if isinstance(outputs, tuple):
            token_logits = outputs[1]
        grid = (inputs.shape[-2] // 16, inputs.shape[-1] // 16)
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
                result['topk_classes'] = [classes[j] for j in result[
                    'topk_labels']]
                result['pred_class'] = result['topk_classes'][0]
            if token_logits is not None:
                probs = token_logits[i].float().softmax(-1)
                token_scores, token_labels = probs.max(-1)
                result['token_labels'] = token_labels.reshape(
                    grid).cpu().numpy()
                result['token_scores'] = token_scores.reshape(
                    grid).cpu().numpy()
            results.append(result)
    return results
