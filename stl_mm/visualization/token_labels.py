"""Token-label figures (the panels of Figure 2 of the STL paper).

Drawing only: the functions are handed token-label records (dicts of numpy
arrays, as :func:`stl_mm.apis.token_labels.token_label_records` makes them:
``image`` HxWx3 RGB uint8, ``token_probs`` (h, w, K), ``token_labels`` /
``token_scores`` / ``gumbel_labels`` (h, w), optional ``mask`` HxW bool and
``token_object_share`` (h, w)); nothing here runs a model.

:func:`draw_token_label_figure` draws one PNG per image with five panels:
the image, the binary class map (tokens of the image's class vs the rest),
the trinary map (those tokens split at a confidence threshold), the
Gumbel-selected foreground (tokens whose hard sample is the image's class)
and a histogram of the token confidences over all images. matplotlib (Agg) is
imported only when drawing.
"""
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np

__all__ = ['draw_token_label_figure', 'draw_confidence_histogram']


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


def _overlay(ax, image, layer, colours, extent, h, w, height, width):
    """The image with a per-token colour layer (``layer`` indexes
    ``colours``, RGBA) and the token grid."""
    from matplotlib.colors import ListedColormap
    ax.imshow(image)
    ax.imshow(layer, cmap=ListedColormap(colours), vmin=-0.5,
              vmax=len(colours) - 0.5, extent=extent,
              interpolation='nearest')
    _draw_grid(ax, h, w, height, width)


def draw_token_label_figure(record: dict,
                            all_scores: np.ndarray,
                            classes: Optional[Sequence[str]],
                            out_file: str,
                            tau: float = 1.0,
                            title: Optional[str] = None,
                            confidence_threshold: float = 0.5) -> str:
    """Draw the five panels of Figure 2 of the STL paper for one record and
    save them as a PNG; returns ``out_file``.

    The panels, for the image's class ``k`` (its label when known, else the
    prediction): the image (with the object mask, dashed); the *binary
    class map* (tokens whose arg-max is ``k`` vs the rest); the *trinary
    map* (class-``k`` tokens with confidence >= ``confidence_threshold``,
    those below it, the rest); the *Gumbel-selected foreground* (tokens
    whose hard Gumbel-Softmax sample is ``k``, as the STL student's
    targets are drawn; x = sample differs from the arg-max); the histogram
    of the token confidences of all images with this image's tokens as
    ticks.
    """
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
    gt = record.get('gt_label')
    k = gt if gt is not None else record['pred_label']
    name = _class_name(classes, k)
    fg = labels == k

    fig, axes = plt.subplots(1, 5, figsize=(19, 4.6), layout='constrained',
                             gridspec_kw=dict(width_ratios=[1, 1, 1, 1,
                                                            1.5]))
    pred = _class_name(classes, record['pred_label'])
    header = f'prediction: {pred} ({record["pred_score"]:.2f})'
    if gt is not None:
        header = f'label: {name}\n' + header
    axes[0].imshow(image)
    axes[0].set_title(header, fontsize=9)
    _draw_mask(axes[0], record.get('mask'))

    dark = (0., 0., 0., 0.65)
    colour = tuple(cmap(k)[:3])
    _overlay(axes[1], image, fg.astype(int), [dark, colour + (0.55, )],
             extent, h, w, height, width)
    _draw_mask(axes[1], record.get('mask'))
    axes[1].set_title(f'binary class map ({h}x{w} tokens):\n'
                      f'{int(fg.sum())} tokens labelled with the class',
                      fontsize=9)

    high = fg & (scores >= confidence_threshold)
    trinary = np.where(high, 2, np.where(fg, 1, 0))
    _overlay(axes[2], image, trinary,
             [dark, (1., 0.85, 0.1, 0.45), (0.85, 0.1, 0.1, 0.6)], extent,
             h, w, height, width)
    _draw_mask(axes[2], record.get('mask'))
    axes[2].set_title(
        f'trinary map: class tokens with confidence\n'
        f'>= {confidence_threshold:.3g} ({int(high.sum())}, red) / '
        f'< {confidence_threshold:.3g} ({int((fg & ~high).sum())}, yellow)',
        fontsize=9)

    chosen = sample == k
    _overlay(axes[3], image, chosen.astype(int), [dark, colour + (0.55, )],
             extent, h, w, height, width)
    changed = sample != labels
    for r, c in zip(*np.nonzero(changed)):
        axes[3].plot((c + 0.5) * width / w, (r + 0.5) * height / h,
                     marker='x', color='black', markersize=7, mew=2.2)
        axes[3].plot((c + 0.5) * width / w, (r + 0.5) * height / h,
                     marker='x', color='white', markersize=5, mew=1.)
    axes[3].set_title(
        f'Gumbel-selected foreground (tau={tau:g}): {int(chosen.sum())}\n'
        f'tokens drawn as the class; x = not the arg-max '
        f'({int(changed.sum())})', fontsize=9)

    for ax in axes[:4]:
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [Patch(color=colour, label=f'token of the class "{name}"'),
               Patch(color=(0.85, 0.1, 0.1), label='... confident'),
               Patch(color=(1., 0.85, 0.1), label='... not confident'),
               Patch(color='black', label='token of another class')]
    if record.get('mask') is not None:
        handles.append(Patch(facecolor='none', edgecolor='0.3', ls='--',
                             label='object mask'))
    fig.legend(handles=handles, fontsize=8, loc='outside lower center',
               ncol=len(handles), frameon=False)

    _hist(axes[4], np.asarray(all_scores).ravel(), scores.ravel(),
          num_classes)
    axes[4].axvline(confidence_threshold, color='tab:red', ls='--', lw=1)
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
