"""Token-label figures (the panels of Figure 2 of the STL paper).

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

:func:`draw_token_label_figure` draws one PNG per image with five panels:
the image, the arg-max class map, the confidence heat map, the Gumbel sample
map (tokens whose sample differs from the arg-max are crossed out) and a
histogram of the token confidences over all images. matplotlib (Agg) is
imported only when drawing.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

__all__ = [
    'NotATokenModelError', 'token_label_records', 'token_label_stats',
    'draw_token_label_figure', 'draw_confidence_histogram',
    'visualize_token_labels', 'find_demo_mask'
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
    from stl_mm.apis.inference import (_same_shape_chunks, forward_packed,
                                       preprocess, token_grid,
                                       token_logits_of)
    from stl_mm.models.utils.token_labels import gumbel_softmax

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
    for start, chunk in _same_shape_chunks(preprocess(model, images),
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
        probs = logits.softmax(-1)
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
            score, label = probs[i].max(-1)
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
                token_probs=probs[i].reshape(h, w, -1).numpy(),
                token_labels=label.reshape(h, w).numpy(),
                token_scores=score.reshape(h, w).numpy(),
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
    ``*_image_class`` (share labelled with the image's class). Shares are
    fractions in [0, 1].
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
    return stats


def _class_colours(num_classes: int):
    import matplotlib
    from matplotlib.colors import ListedColormap
    if num_classes <= 10:
        base = matplotlib.colormaps['tab10'].colors[:num_classes]
    elif num_classes <= 20:
        base = matplotlib.colormaps['tab20'].colors[:num_classes]
    else:
        base = matplotlib.colormaps['hsv'](np.linspace(0, 1, num_classes,
                                                       endpoint=False))
    return ListedColormap(base)


def _class_name(classes, k: int) -> str:
    return str(classes[k]) if classes is not None and k < len(
        classes) else f'class {k}'


def _draw_grid(ax, h: int, w: int, height: int, width: int) -> None:
    for r in range(1, h):
        ax.axhline(r * height / h, color='white', lw=0.5, alpha=0.6)
    for c in range(1, w):
        ax.axvline(c * width / w, color='white', lw=0.5, alpha=0.6)


def _draw_mask(ax, mask: Optional[np.ndarray]) -> None:
    if mask is not None and mask.any() and not mask.all():
        ax.contour(mask.astype(float), levels=[0.5], colors='white',
                   linewidths=1.2, linestyles='--')


def _hist(ax, all_scores: np.ndarray, scores: Optional[np.ndarray],
          num_classes: int) -> None:
    bins = np.linspace(1. / num_classes, 1., 21)
    weights = np.full(all_scores.size, 1. / max(all_scores.size, 1))
    ax.hist(all_scores, bins=bins, weights=weights, color='0.6',
            label=f'all images ({all_scores.size} tokens)')
    if scores is not None:  # this image's tokens as ticks under the bars
        ax.plot(scores, np.zeros_like(scores), '|', color='tab:red',
                markersize=18, mew=1.5, clip_on=False,
                label=f'this image ({scores.size} tokens)')
    ax.axvline(1. / num_classes, color='k', ls=':', lw=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel('token confidence (max softmax probability)')
    ax.set_ylabel('share of all tokens')
    ax.legend(fontsize=7, loc='upper right')


def draw_token_label_figure(record: dict,
                            all_scores: np.ndarray,
                            classes: Optional[Sequence[str]],
                            out_file: str,
                            tau: float = 1.0,
                            title: Optional[str] = None) -> str:
    """Draw the five panels for one record (see the module docstring) and
    save them as a PNG; returns ``out_file``."""
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    image = record['image']
    height, width = image.shape[:2]
    probs = record['token_probs']
    h, w, num_classes = probs.shape
    cmap = _class_colours(num_classes)
    extent = (0, width, height, 0)
    labels, scores = record['token_labels'], record['token_scores']
    sample = record['gumbel_labels']

    fig, axes = plt.subplots(1, 5, figsize=(19, 4.4), layout='constrained',
                             gridspec_kw=dict(width_ratios=[1, 1, 1.2, 1,
                                                            1.5]))
    pred = _class_name(classes, record['pred_label'])
    header = f'prediction: {pred} ({record["pred_score"]:.2f})'
    if record.get('gt_label') is not None:
        header = (f'label: {_class_name(classes, record["gt_label"])}\n'
                  + header)
    axes[0].imshow(image)
    axes[0].set_title(header, fontsize=9)
    _draw_mask(axes[0], record.get('mask'))

    axes[1].imshow(image)
    axes[1].imshow(labels, cmap=cmap, vmin=-0.5, vmax=num_classes - 0.5,
                   alpha=0.6, extent=extent, interpolation='nearest')
    _draw_grid(axes[1], h, w, height, width)
    _draw_mask(axes[1], record.get('mask'))
    axes[1].set_title(f'token labels: arg-max class per token\n({h}x{w} '
                      'token grid)', fontsize=9)

    heat = axes[2].imshow(scores, cmap='viridis', vmin=1. / num_classes,
                          vmax=1., extent=extent, interpolation='nearest')
    _draw_mask(axes[2], record.get('mask'))
    for r in range(h):
        for c in range(w):
            axes[2].text((c + 0.5) * width / w, (r + 0.5) * height / h,
                         f'{scores[r, c]:.2f}', ha='center', va='center',
                         fontsize=7 if max(h, w) <= 8 else 4,
                         color='white' if scores[r, c] < 0.7 else 'black')
    fig.colorbar(heat, ax=axes[2], fraction=0.05, pad=0.02, shrink=0.85)
    axes[2].set_title('token confidence: max softmax probability\n'
                      f'(uniform = 1/K = {1. / num_classes:.2f})',
                      fontsize=9)

    axes[3].imshow(image)
    axes[3].imshow(sample, cmap=cmap, vmin=-0.5, vmax=num_classes - 0.5,
                   alpha=0.6, extent=extent, interpolation='nearest')
    _draw_grid(axes[3], h, w, height, width)
    changed = sample != labels
    for r, c in zip(*np.nonzero(changed)):
        axes[3].plot((c + 0.5) * width / w, (r + 0.5) * height / h,
                     marker='x', color='black', markersize=10, mew=2.5)
        axes[3].plot((c + 0.5) * width / w, (r + 0.5) * height / h,
                     marker='x', color='white', markersize=8, mew=1.2)
    kept = int((~changed).sum())
    axes[3].set_title(
        f'hard Gumbel-Softmax sample (tau={tau:g}): class per token\n'
        f'x = sample differs from arg-max; {kept}/{h * w} tokens kept',
        fontsize=9)

    for ax in axes[:4]:
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [Patch(color=cmap(k), label=_class_name(classes, k))
               for k in range(min(num_classes, 20))]
    if record.get('mask') is not None:
        handles.append(Patch(facecolor='none', edgecolor='0.3', ls='--',
                             label='object mask'))
    axes[1].legend(handles=handles, fontsize=7, loc='upper center',
                   bbox_to_anchor=(0.5, -0.02), ncol=2, frameon=False)

    _hist(axes[4], np.asarray(all_scores).ravel(), scores.ravel(),
          num_classes)
    axes[4].set_title('token confidences over all images', fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file, dpi=90)
    plt.close(fig)
    return out_file


def draw_confidence_histogram(records: Sequence[dict], out_file: str,
                              title: Optional[str] = None) -> str:
    """Histogram of all token confidences, split into object and
    background tokens when masks are known; saved as a PNG."""
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt

    num_classes = records[0]['token_probs'].shape[-1]
    scores = np.concatenate([r['token_scores'].ravel() for r in records])
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(1. / num_classes, 1., 21)
    obj = [r['token_scores'][r['token_object_share'] >= 0.5]
           for r in records if r['token_object_share'] is not None]
    bg = [r['token_scores'][r['token_object_share'] == 0]
          for r in records if r['token_object_share'] is not None]
    if obj:
        obj, bg = np.concatenate(obj), np.concatenate(bg)
        ax.hist([obj, bg], bins=bins, stacked=False,
                color=['tab:red', 'tab:blue'],
                label=[f'object tokens (>= 50 % object, {obj.size})',
                       f'background tokens (no object pixel, {bg.size})'])
    else:
        ax.hist(scores, bins=bins, color='0.5',
                label=f'all tokens ({scores.size})')
    ax.axvline(1. / num_classes, color='k', ls=':', lw=1, label='1/K')
    ax.set_xlim(0, 1)
    ax.set_xlabel('token confidence (max softmax probability)')
    ax.set_ylabel('tokens')
    ax.legend(fontsize=8, loc='upper right')
    ax.set_title(title or f'token confidences over {len(records)} images',
                 fontsize=10)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file, dpi=90)
    plt.close(fig)
    return out_file


def visualize_token_labels(model: torch.nn.Module,
                           images: Sequence[Union[str, np.ndarray]],
                           out_dir: str,
                           tau: float = 1.0,
                           seed: int = 0,
                           masks='auto',
                           prefix: str = '',
                           title: Optional[str] = None) -> dict:
    """Compute the token labels of ``images`` and write the figures.

    Writes ``<out_dir>/<prefix><image stem>.png`` per image (``image<i>``
    for arrays) and ``<out_dir>/<prefix>confidence_histogram.png``.

    Returns ``dict(figures=[...], histogram=..., stats=...)`` with the
    numbers of :func:`token_label_stats`.
    """
    records = token_label_records(model, images, tau=tau, seed=seed,
                                  masks=masks)
    classes = (getattr(model, 'dataset_meta', None) or {}).get('classes')
    all_scores = np.concatenate([r['token_scores'].ravel() for r in records])
    figures, used = [], set()
    for i, record in enumerate(records):
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
        figures.append(draw_token_label_figure(record, all_scores, classes,
                                               out_file, tau=tau,
                                               title=title))
    histogram = draw_confidence_histogram(
        records, osp.join(out_dir, f'{prefix}confidence_histogram.png'),
        title=title)
    return dict(figures=figures, histogram=histogram,
                stats=token_label_stats(records))
