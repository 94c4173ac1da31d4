"""What ``tools/train.py`` adds to a config before building the Runner.

:func:`prepare_training` guards a training against losing work or data
going silently wrong:

- a work dir that is a file is refused before anything is built;
- auto-resume skips broken checkpoints and refuses a missing work dir
  (:mod:`stl_mm.engine.resume`);
- :class:`~stl_mm.engine.hooks.WorkDirLockHook` refuses a second live run
  in the same work dir;
- :class:`~stl_mm.engine.hooks.EpochSeedHook` (with its worker init
  function) makes a resumed run draw the same random numbers as an
  uninterrupted one;
- :class:`~stl_mm.engine.hooks.PreflightHook` checks labels against
  ``num_classes`` and runs one validation batch before training.

Hooks the config already lists are not added twice; a config sets
``stl_mm_guards=False`` to go without them.
"""
import os.path as osp

from mmengine.config import Config

from stl_mm.utils.errors import UserError

from .resume import resolve_auto_resume

__all__ = ['prepare_training', 'GUARD_HOOKS']

GUARD_HOOKS = ('stl_mm.WorkDirLockHook', 'stl_mm.EpochSeedHook',
               'stl_mm.PreflightHook')
WORKER_INIT = 'stl_mm.epoch_seeded_worker_init'


def _check_work_dir(work_dir: str) -> None:
    if osp.exists(work_dir) and not osp.isdir(work_dir):
        raise UserError(f'The work dir "{work_dir}" is a file, not a folder. '
                        'Give --work-dir a folder (it is created if '
                        'missing).')


def prepare_training(cfg: Config) -> Config:
    """Adjust ``cfg`` (in place) for a guarded training; see the module
    docstring. Returns ``cfg``."""
    _check_work_dir(cfg.work_dir)
    resolve_auto_resume(cfg)
    if not cfg.get('stl_mm_guards', True):
        return cfg
    hooks = list(cfg.get('custom_hooks') or [])
    present = {h.get('type') for h in hooks}
    hooks += [dict(type=t) for t in GUARD_HOOKS if t not in present]
    cfg.custom_hooks = hooks
    loader = cfg.get('train_dataloader')
    if loader is not None and 'worker_init_fn' not in loader:
        loader['worker_init_fn'] = dict(type=WORKER_INIT)
    return cfg
