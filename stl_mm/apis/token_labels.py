"""Token labels of a token model: per-token records and their statistics.

For each image a token model (an STL token labeler or student: a head that
returns ``(cls_logits, token_logits)``) gives per token a distribution over
the K classes. :func:`token_label_records` computes, on the model's token
grid,

- ``token_labels``: the arg-max class of each token,
- ``token_scores``: its probability (the token's confidence),
- ``gumbel_labels``: the class drawn by a hard Gumbel-Softmax sample, as
  the STL student's targets are drawn during training
  (:func:`stl_mm.models.utils.token_labels.gumbel_softmax`). A hard sample
  picks class k with probability ``softmax(logits)_k`` whatever the
  temperature, so a token keeps its arg-max label with probability equal to
  its confidence: confident (object) tokens keep their label, uncertain
  (background) tokens are relabelled at random.

:func:`token_label_stats` summarises records; :func:`visualize_token_labels`
computes the records and hands them to the drawing functions of
:mod:`stl_mm.visualization.token_labels` (Figure 2 of the STL paper).
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from stl_mm.evaluation.paired_stats import binary_auc
from stl_mm.models.utils.token_labels import gumbel_softmax
from stl_mm.visualization.token_labels import (draw_confidence_histogram,
                                               draw_token_label_figure)
from .inference import (forward_packed, preprocess, same_shape_chunks,
                        token_grid, token_logits_of, token_maps)

__all__ = [
    'NotATokenModelError', 'token_label_records', 'token_label_stats',
    'visualize_token_labels', 'find_demo_mask', 'describe_token_label_stats'
]


class NotATokenModelError(TypeError):
    """The model's head gives no per-token logits."""

    user_facing = True  # printed without a traceback by the tools


def find_demo_mask(img_path: str) -> Optional[str]:
    """The object mask of an embedded demo image, if there is one.

    ``.../cls/<split>/<class>/<file>`` ->
    ``.../cls/masks/<split>/<class>/<file>``
    (see :mod:`stl_mm.datasets.demo_data`).
    """
    parts = osp.normpath(osp.abspath(img_path)).split(os.sep)
    if len(parts) < 4:
        return None
    root, split, cls_name, name = (os.sep.join(parts[:-3]), parts[-3],
                                   parts[-2], parts[-1])
    mask = osp.join(root, 'masks', split, cls_name, name)
    return mask if osp.isfile(mask) else None


def _load_mask(path: Optional[str], shape) -> Optional[np.ndarray]:
    if path is None:
        return None
    from PIL import Image
    mask = np.asarray(Image.open(path).convert('L')) > 127
    return mask if mask.shape == tuple(shape) else None


def _to_rgb(inputs: torch.Tensor) -> np.ndarray:
    """A packed CHW BGR uint8 tensor -> HWC RGB uint8 array."""
    array = inputs.detach().cpu().numpy().transpose(1, 2, 0)
    return np.ascontiguousarray(array[..., ::-1]).astype(np.uint8)


@torch.no_grad()
def token_label_records(model: torch.nn.Module,
                        images: Sequence[Union[str, np.ndarray]],
                        tau: float = 1.0,
                        seed: int = 0,
                        masks: Union[str, Sequence[Optional[str]],
                                     None] = 'auto',
                        batch_size: int = 8) -> List[dict]:
    """Per-image token labels of a token model.

    Args:
        model: a classifier from :func:`stl_mm.apis.init_model` whose head
            returns ``(cls_logits, token_logits)``.
        images: paths or HxWx3 BGR uint8 arrays.
        tau: Gumbel-Softmax temperature, passed on as in training (a hard
            sample does not depend on it).
        seed: seed of the Gumbel noise.
        masks: object mask files (one per image, None for none), ``'auto'``
            (the embedded demo set's masks, found next to the images) or
            None.
        batch_size: images per forward pass.

    Returns:
        One dict per image: ``image`` (the network input as HxWx3 RGB
        uint8), ``img_path``, ``pred_label``, ``pred_score``, ``gt_label``
        (from the demo folder name, else None), ``token_probs`` (h, w, K),
        ``token_labels``/``token_scores``/``gumbel_labels`` (h, w), ``mask``
        (HxW bool or None) and ``token_object_share`` (h, w: the share of
        object pixels in each token, or None).

    Raises:
        NotATokenModelError: the model has no token outputs.
    """
    images = [images] if isinstance(images, (str, np.ndarray)) else list(
        images)
    if isinstance(masks, str) and masks == 'auto':
        masks = [find_demo_mask(im) if isinstance(im, str) else None
                 for im in images]
    elif masks is None:
        masks = [None] * len(images)
    elif len(masks) != len(images):
        raise ValueError(f'{len(masks)} masks for {len(images)} images')
    classes = (getattr(model, 'dataset_meta', None) or {}).get('classes')
    generator = torch.Generator().manual_seed(seed)
    records = []
    for start, chunk in same_shape_chunks(preprocess(model, images),
                                           batch_size):
        inputs, outputs, samples = forward_packed(model, chunk)
        token_logits = token_logits_of(outputs)
        if token_logits is None:
            raise NotATokenModelError(
                'This model gives no per-token logits: its head returns '
                'class scores only. Token labels need a token model, e.g. '
                'a FAN "_token" variant, the STL phase-1 token labeler or an '
                'STL student (head stl_mm.TokenLabelHead with the backbone '
                "out_type='cls_and_patch').")
        h, w = token_grid(token_logits.shape[1], inputs.shape[-2],
                          inputs.shape[-1])
        logits = token_logits.detach().float().cpu()
        sample = gumbel_softmax(logits, tau=tau, hard=True,
                                generator=generator).argmax(-1)
        for i, packed in enumerate(chunk):
            index = start + i
            image = _to_rgb(packed['inputs'])
            img_path = images[index] if isinstance(images[index],
                                                   str) else None
            mask = _load_mask(masks[index], image.shape[:2])
            share = None
            if mask is not None:
                share = _token_share(mask, h, w)
            gt_label = None
            if img_path is not None and classes:
                folder = osp.basename(osp.dirname(img_path))
                if folder in classes:
                    gt_label = list(classes).index(folder)
            records.append(dict(
                image=image,
                img_path=img_path,
                pred_label=int(samples[i].pred_label),
                pred_score=float(samples[i].pred_score.max()),
                gt_label=gt_label,
                **token_maps(logits[i], (h, w)),
                gumbel_labels=sample[i].reshape(h, w).numpy(),
                mask=mask,
                token_object_share=share))
    return records


def _token_share(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    """Share of mask pixels in each cell of an h x w grid over the mask."""
    rows = np.linspace(0, mask.shape[0], h + 1).round().astype(int)
    cols = np.linspace(0, mask.shape[1], w + 1).round().astype(int)
    share = np.zeros((h, w), dtype=np.float32)
    for r in range(h):
        for c in range(w):
            cell = mask[rows[r]:rows[r + 1], cols[c]:cols[c + 1]]
            share[r, c] = cell.mean() if cell.size else 0.
    return share


def token_label_stats(records: Sequence[dict], object_min: float = 0.5,
                      background_max: float = 0.0) -> Dict[str, float]:
    """Summary numbers over records.

    Always: ``num_images``, ``num_tokens``, ``mean_confidence``,
    ``gumbel_keeps_argmax`` (share of tokens whose Gumbel sample is the
    arg-max class). With masks and known image labels: for object tokens
    (object share >= ``object_min``) and background tokens (share <=
    ``background_max``): ``*_tokens``, ``*_mean_confidence`` and
    ``*_image_class`` (share labelled with the image's class), and, when
    both kinds occur, ``confidence_auc``: the ROC AUC of the token
    confidence for telling object from background tokens
    (:func:`stl_mm.evaluation.paired_stats.binary_auc`; 0.5 = no
    separation, 1 = every object token more confident than every
    background token). Shares are fractions in [0, 1].
    """
    stats = dict(num_images=len(records))
    if not records:
        return stats
    scores = np.concatenate([r['token_scores'].ravel() for r in records])
    keep = np.concatenate([
        (r['gumbel_labels'] == r['token_labels']).ravel() for r in records
    ])
    stats.update(num_tokens=int(scores.size),
                 mean_confidence=float(scores.mean()),
                 gumbel_keeps_argmax=float(keep.mean()))
    groups = {'object': [], 'background': []}
    for r in records:
        if r['token_object_share'] is None or r['gt_label'] is None:
            continue
        share = r['token_object_share'].ravel()
        labels = r['token_labels'].ravel()
        conf = r['token_scores'].ravel()
        for name, sel in (('object', share >= object_min),
                          ('background', share <= background_max)):
            for lb, cf in zip(labels[sel], conf[sel]):
                groups[name].append((lb == r['gt_label'], cf))
    for name, items in groups.items():
        if not items:
            continue
        hits, conf = np.array(items, dtype=np.float64).T
        stats[f'{name}_tokens'] = int(len(items))
        stats[f'{name}_mean_confidence'] = float(conf.mean())
        stats[f'{name}_image_class'] = float(hits.mean())
    if groups['object'] and groups['background']:
        conf = [c for _, c in groups['object']] + [
            c for _, c in groups['background']]
        is_object = [True] * len(groups['object']) + [False] * len(
            groups['background'])
        stats['confidence_auc'] = binary_auc(conf, is_object)
    return stats


def describe_token_label_stats(stats: Dict[str, float]) -> str:
    """One line of text for the numbers of :func:`token_label_stats`."""
    line = (f'{stats["num_tokens"]} tokens of {stats["num_images"]} images: '
            f'mean confidence {stats["mean_confidence"]:.3f}, Gumbel sample '
            f'= arg-max for {100 * stats["gumbel_keeps_argmax"]:.1f} %')
    if 'object_tokens' in stats:
        line += (f'; object tokens: {100 * stats["object_image_class"]:.1f}'
                 f' % labelled with the image class, mean confidence '
                 f'{stats["object_mean_confidence"]:.3f}')
    if 'background_tokens' in stats:
        line += (f'; background tokens: mean confidence '
                 f'{stats["background_mean_confidence"]:.3f}')
    if 'confidence_auc' in stats:
        line += (f'; confidence AUC object vs background '
                 f'{stats["confidence_auc"]:.3f}')
    return line


def visualize_token_labels(model: torch.nn.Module,
                           images: Sequence[Union[str, np.ndarray]],
                           out_dir: str,
                           tau: float = 1.0,
                           seed: int = 0,
                           masks='auto',
                           prefix: str = '',
                           title: Optional[str] = None,
                           draw: Optional[Sequence[str]] = None,
                           histogram_title: Optional[str] = None,
                           confidence_threshold: Union[float, str] = 0.5
                           ) -> dict:
    """Compute the token labels of ``images`` and write the figures.

    Writes ``<out_dir>/<prefix><image stem>.png`` per drawn image
    (``image<i>`` for arrays) and
    ``<out_dir>/<prefix>confidence_histogram.png``.

    Args:
        draw: the image paths to draw a figure of (default: all); the
            statistics and the histograms cover all ``images``.
        histogram_title: title of the histogram figure (default
            ``title``).
        confidence_threshold: the trinary map's split into confident and
            unconfident tokens: a probability, or ``'median'`` for the
            median confidence of all tokens of ``images`` (needs no masks
            or labels; with few classes a fixed 0.5 can leave every token
            "confident").

    Returns ``dict(figures=[...], histogram=..., stats=...,
    confidence_threshold=...)`` with the numbers of
    :func:`token_label_stats` and the threshold used.
    """
    records = token_label_records(model, images, tau=tau, seed=seed,
                                  masks=masks)
    classes = (getattr(model, 'dataset_meta', None) or {}).get('classes')
    all_scores = np.concatenate([r['token_scores'].ravel() for r in records])
    if isinstance(confidence_threshold, str):
        if confidence_threshold != 'median':
            raise ValueError(f"confidence_threshold must be a probability "
                             f"or 'median', got {confidence_threshold!r}")
        confidence_threshold = float(np.median(all_scores))
    elif not 0. <= confidence_threshold <= 1.:
        raise ValueError(f'confidence_threshold must be in [0, 1], got '
                         f'{confidence_threshold!r}')
    if draw is not None:
        by_path = {r['img_path']: r for r in records}
        missing = [p for p in draw if p not in by_path]
        if missing:
            raise ValueError(f'images to draw that are not among the '
                             f'images: {missing[:5]}')
        drawn = [by_path[p] for p in draw]
    else:
        drawn = records
    figures, used = [], set()
    for i, record in enumerate(drawn):
        stem = f'image{i}'
        if record['img_path'] is not None:
            stem = osp.splitext(osp.basename(record['img_path']))[0]
            folder = osp.basename(osp.dirname(record['img_path']))
            if folder:
                stem = f'{folder}_{stem}'
        while stem in used:
            stem += '_'
        used.add(stem)
        out_file = osp.join(out_dir, f'{prefix}{stem}.png')
        figures.append(draw_token_label_figure(
            record, all_scores, classes, out_file, tau=tau, title=title,
            confidence_threshold=confidence_threshold))
    histogram = draw_confidence_histogram(
        records, osp.join(out_dir, f'{prefix}confidence_histogram.png'),
        title=histogram_title or title)
    return dict(figures=figures, histogram=histogram,
                stats=token_label_stats(records),
                confidence_threshold=float(confidence_threshold))
