"""Checks before the first training step, so that bad data fails early.

mmengine runs the first validation after the first training epoch (or
``val_interval`` of them); a val set it cannot process then throws that
training away when no checkpoint was written yet. And labels are only
checked by the loss, deep inside the first step (a label >= ``num_classes``
is an index error), or not at all (a class count larger than the data's).

:class:`PreflightHook` (``before_train``) therefore

- compares the training labels with the head's ``num_classes``: a label out
  of range is an error naming the label, a sample and the fix; classes that
  never occur (a larger ``num_classes``, an empty class folder) are a
  warning naming them;
- runs the model on the first validation batch (no metric), so that a val
  pipeline or size error stops the run before any training; val batches of
  mixed image sizes (zero-padded by the data preprocessor) are a warning.

The global random states are restored afterwards: the check does not change
what training draws.
"""
import logging
import random
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from stl_mm.registry import HOOKS
from stl_mm.utils.errors import UserError

__all__ = ['PreflightHook']


def _labels(dataset) -> Optional[np.ndarray]:
    getter = getattr(dataset, 'get_gt_labels', None)
    if getter is None:
        return None
    try:
        labels = np.asarray(getter())
    except Exception:  # noqa: BLE001 (multi-label or wrapped sets: skip)
        return None
    if labels.dtype == object or labels.ndim != 1 or labels.size == 0:
        return None
    return labels.astype(np.int64)


def _sample_path(dataset, label: int) -> str:
    """The file of the first sample with ``label`` (error path only)."""
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        if int(np.asarray(info.get('gt_label', -1)).ravel()[0]) == label:
            return info.get('img_path', '?')
    return '?'


class _KeepRandomState:
    """Restore ``random``, numpy and torch (CPU and CUDA) states on exit."""

    def __enter__(self):
        self.states = (random.getstate(), np.random.get_state(),
                       torch.get_rng_state(),
                       torch.cuda.get_rng_state_all()
                       if torch.cuda.is_available() else None)

    def __exit__(self, *exc):
        py, np_state, cpu, cuda = self.states
        random.setstate(py)
        np.random.set_state(np_state)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        return False


@HOOKS.register_module()
class PreflightHook(Hook):
    """Check labels and one validation batch before training starts.

    Args:
        check_labels: compare training labels with ``num_classes``.
        check_val_batch: run the model on the first validation batch.
    """

    priority = 'LOW'  # after the other hooks' before_train (EMA, ...)

    def __init__(self, check_labels: bool = True,
                 check_val_batch: bool = True) -> None:
        self.check_labels = check_labels
        self.check_val_batch = check_val_batch

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if self.check_labels:
            self._check_labels(runner.train_dataloader.dataset, model)
        if self.check_val_batch and runner._val_loop is not None:
            with _KeepRandomState():
                self._check_val_batch(runner)

    @staticmethod
    def _check_labels(dataset, model) -> None:
        num_classes = getattr(getattr(model, 'head', None), 'num_classes',
                              None)
        labels = _labels(dataset)
        if num_classes is None or labels is None:
            return
        top = int(labels.max())
        if top >= num_classes or labels.min() < 0:
            bad = top if top >= num_classes else int(labels.min())
            raise UserError(
                f'The training data has label {bad} (e.g. '
                f'"{_sample_path(dataset, bad)}") but the model has '
                f'num_classes={num_classes} (labels 0..{num_classes - 1}). '
                'Fix the annotation file, or set num_classes (the head\'s '
                f'and the data preprocessor\'s) to {top + 1}.')
        absent = sorted(set(range(num_classes)) - set(labels.tolist()))
        if absent:
            names = list(getattr(dataset, 'metainfo', {}).get('classes')
                         or [])
            shown = [f'{i} ({names[i]})' if i < len(names) else str(i)
                     for i in absent[:10]]
            print_log(
                f'The model has num_classes={num_classes} but '
                f'{len(absent)} classes have no training sample: '
                f'{", ".join(shown)}{" ..." if len(absent) > 10 else ""}. '
                'Check num_classes and the class folders / annotation '
                'file (an empty class folder?).', logger='current',
                level=logging.WARNING)

    @staticmethod
    def _check_val_batch(runner) -> None:
        loader = runner.val_loop.dataloader
        try:
            batch = next(iter(loader))
        except StopIteration:
            return
        except Exception as error:
            if getattr(error, 'user_facing', False):
                raise
            raise UserError(
                'The validation data cannot be loaded (first val batch: '
                f'{type(error).__name__}: {error}). Fix the val pipeline or '
                'data; nothing has been trained yet.') from error
        inputs = batch.get('inputs') if isinstance(batch, dict) else None
        if isinstance(inputs, (list, tuple)) and len(
                {tuple(x.shape) for x in inputs}) > 1:
            sizes = sorted({tuple(x.shape[-2:]) for x in inputs})
            print_log(
                f'A validation batch holds images of {len(sizes)} sizes '
                f'(e.g. {sizes[:3]}), which the data preprocessor zero-pads '
                'to one size: resize/crop them in the val pipeline to the '
                'model size.', logger='current', level=logging.WARNING)
        model = runner.model
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                model.val_step(batch)
        except Exception as error:
            if getattr(error, 'user_facing', False):
                raise
            raise UserError(
                'The model fails on the first validation batch '
                f'({type(error).__name__}: {error}). Fix the val pipeline '
                '(e.g. resize/crop val images to the model size, a multiple '
                'of the patch size 16) before training; nothing has been '
                'trained yet.') from error
        finally:
            model.train(was_training)
