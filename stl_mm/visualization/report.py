"""Figures of a classification report (drawing only).

Handed the numbers of :func:`stl_mm.evaluation.classification_report` and
:func:`stl_mm.evaluation.training_curves`; each function writes one PNG and
returns its path. matplotlib (Agg) is imported only when drawing.
"""
import os
import os.path as osp
from typing import Dict, Optional, Sequence

__all__ = ['draw_confusion_matrix', 'draw_roc_curves',
           'draw_training_curves', 'MAX_ANNOTATED', 'MAX_LEGEND']

#: most classes whose confusion-matrix cells carry their counts
MAX_ANNOTATED = 30
#: most classes whose ROC curves get a legend entry each
MAX_LEGEND = 20


def _pyplot():
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    return plt


def _save(fig, out_file: str) -> str:
    plt = _pyplot()
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file, dpi=100, bbox_inches='tight')
    plt.close(fig)
    return out_file


def draw_confusion_matrix(matrix: Sequence[Sequence[int]],
                          classes: Sequence[str], out_file: str,
                          title: Optional[str] = None) -> str:
    """The confusion matrix (rows: true class, columns: predicted), drawn
    by mmpretrain's ``ConfusionMatrix.plot``; with the counts in the cells
    up to :data:`MAX_ANNOTATED` classes."""
    import torch
    from mmpretrain.evaluation import ConfusionMatrix
    _pyplot()
    fig = ConfusionMatrix.plot(torch.as_tensor(matrix),
                               include_values=len(classes) <= MAX_ANNOTATED,
                               classes=list(classes), show=False)
    if title:
        fig.suptitle(title)
    return _save(fig, out_file)


def draw_roc_curves(roc: Dict[str, dict], out_file: str,
                    title: Optional[str] = None) -> str:
    """One-vs-rest ROC curves, one per class with its AUC in the legend
    (classes without a curve are listed as ``n/a``). Above
    :data:`MAX_LEGEND` classes the curves are drawn thin without a legend
    and the title gives the mean AUC."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 6))
    many = len(roc) > MAX_LEGEND
    aucs = [c['auc'] for c in roc.values() if c['auc'] is not None]
    for name, curve in roc.items():
        if curve['auc'] is None:
            if not many:
                ax.plot([], [], label=f'{name} (AUC n/a)')
            continue
        if many:
            ax.plot(curve['fpr'], curve['tpr'], lw=0.5, alpha=0.4)
        else:
            ax.plot(curve['fpr'], curve['tpr'], lw=1.5,
                    label=f'{name} (AUC {curve["auc"]:.3f})')
    ax.plot([0, 1], [0, 1], 'k--', lw=0.8, label='chance')
    if many and aucs:
        title = (title or 'ROC curves') + (
            f'\n{len(roc)} classes, mean AUC {sum(aucs) / len(aucs):.3f}')
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel='false positive rate',
           ylabel='true positive rate',
           title=title or 'ROC curves (one class vs. the rest)')
    ax.legend(loc='lower right', fontsize='small')
    return _save(fig, out_file)


def draw_training_curves(curves: Dict[str, dict], out_file: str,
                         title: Optional[str] = None) -> str:
    """Training loss and validation top-1 per epoch, one line per model
    (``curves[model] = dict(epoch, loss, val_epoch, val_top1)``)."""
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for name, c in curves.items():
        if c.get('epoch'):
            ax_loss.plot(c['epoch'], c['loss'], marker='o', label=name)
        if c.get('val_epoch'):
            ax_acc.plot(c['val_epoch'], c['val_top1'], marker='o',
                        label=name)
    ax_loss.set(xlabel='epoch', ylabel='training loss (mean of the logged '
                'iterations)', title='training loss')
    ax_acc.set(xlabel='epoch', ylabel='top-1 (%)',
               title='validation accuracy')
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize='small')
    if title:
        fig.suptitle(title)
    return _save(fig, out_file)
