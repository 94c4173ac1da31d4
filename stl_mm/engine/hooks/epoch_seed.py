"""Random streams that a resumed training continues exactly.

mmengine seeds Python's, numpy's and torch's generators once, at start, and
saves none of their states: a run resumed from ``epoch_N.pth`` draws other
augmentations, drop-path masks and Gumbel samples than the uninterrupted
run (and DataLoader workers restart every epoch from the same fixed seeds,
repeating the augmentations of epoch 1). Saving the states would not
suffice: checkpoints are written on rank 0 only, and validation draws from
torch's generator between the save and the next epoch.

So :class:`EpochSeedHook` re-seeds all three generators at the start of each
training epoch from ``(seed, epoch, rank)``; what an epoch draws then depends
only on those three numbers, in an uninterrupted and in a resumed run alike.
DataLoader workers get torch's per-worker seeds, derived from a number drawn
from the re-seeded torch generator, so :func:`epoch_seeded_worker_init`
(the train loader's ``worker_init_fn``) keeps them instead of mmengine's
fixed ones. The scheme is recorded in the checkpoint's ``meta``.

Exact only for epoch-based loops and non-persistent workers (or
``num_workers=0``): persistent workers keep their streams across epochs in
processes whose state a checkpoint cannot hold; a resume then warns.
"""
import logging
import random
import warnings

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log

from stl_mm.registry import FUNCTIONS, HOOKS

__all__ = ['EpochSeedHook', 'epoch_seeded_worker_init', 'epoch_seed']

SCHEME = 'stl_mm.EpochSeedHook/1 (seed, epoch, rank)'


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """A 63-bit seed for ``(seed, epoch, rank)`` (numpy's SeedSequence)."""
    state = np.random.SeedSequence([seed % 2**32, epoch, rank])
    return int(state.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


@FUNCTIONS.register_module()
def epoch_seeded_worker_init(worker_id: int,
                             disable_subprocess_warning: bool = False
                             ) -> None:
    """DataLoader ``worker_init_fn`` that keeps torch's per-worker seeds.

    torch has already seeded ``random``, numpy and torch in the worker from
    ``base_seed + worker_id``, where ``base_seed`` is drawn from the main
    process's torch generator for each epoch's iterator (re-seeded by
    :class:`EpochSeedHook`): different every epoch, rank and worker, and the
    same again in a resumed run.
    """
    if disable_subprocess_warning and worker_id != 0:
        warnings.simplefilter('ignore')


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Re-seed ``random``, numpy and torch before every training epoch."""

    priority = 'VERY_HIGH'

    def before_train_epoch(self, runner) -> None:
        seed = epoch_seed(runner.seed, runner.epoch, get_rank())
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)  # all devices

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['rng_scheme'] = SCHEME

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return
        if checkpoint.get('meta', {}).get('rng_scheme') != SCHEME:
            print_log('The resumed checkpoint was written without '
                      'stl_mm.EpochSeedHook: the random streams from here '
                      'on differ from those of the interrupted run.',
                      logger='current', level=logging.WARNING)
        loader = runner.cfg.get('train_dataloader') or {}
        if loader.get('num_workers', 0) and loader.get('persistent_workers'):
            print_log('train_dataloader.persistent_workers=True: the '
                      'workers\' random streams are not in the checkpoint, '
                      'so this resumed run augments differently from an '
                      'uninterrupted one (exact with persistent_workers='
                      'False or num_workers=0).', logger='current',
                      level=logging.WARNING)
