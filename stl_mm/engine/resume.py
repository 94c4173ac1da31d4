"""Auto-resume that survives a broken newest checkpoint.

mmengine's auto-resume (``resume=True`` without ``load_from``) takes the
file named in ``<work_dir>/last_checkpoint`` and fails when that file is
truncated (a run killed while saving), and starts from scratch without a
word when the work dir holds no checkpoint (a mistyped ``--work-dir``).
:func:`resolve_auto_resume` picks the checkpoint before the Runner is built:

- the newest intact one among ``last_checkpoint`` and the ``epoch_N.pth`` /
  ``iter_N.pth`` files of the work dir (a broken one is skipped with a
  warning that names it and what is wrong with it);
- no work dir: an error (there is nothing to resume; a typo?);
- a work dir without checkpoints: a warning that training starts from
  scratch (a job preempted before its first checkpoint).

An explicit checkpoint (``--resume PATH``) is left to the Runner; a broken
one is refused by :func:`stl_mm.utils.checkpoint.safe_load`.
"""
import logging
import os
import os.path as osp
import re
from typing import List, Optional

from mmengine.config import Config
from mmengine.logging import print_log

from stl_mm.utils.checkpoint import diagnose_checkpoint_file
from stl_mm.utils.errors import UserError

__all__ = ['resume_candidates', 'resolve_auto_resume']

_NUMBERED = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def _from_last_checkpoint(work_dir: str) -> Optional[str]:
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return None
    with open(record) as f:
        path = f.read().strip()
    if not path:
        return None
    # a moved or copied work dir: its own file of that name
    here = osp.join(work_dir, osp.basename(path))
    if osp.isfile(here) and osp.dirname(osp.abspath(path)) != osp.abspath(
            work_dir):
        return here
    return path


def resume_candidates(work_dir: str) -> List[str]:
    """Checkpoints of ``work_dir`` to resume from, newest first: the one
    ``last_checkpoint`` names, then ``epoch_N``/``iter_N`` files by N."""
    numbered = []
    for name in os.listdir(work_dir):
        match = _NUMBERED.match(name)
        if match and osp.isfile(osp.join(work_dir, name)):
            numbered.append((int(match.group(2)), osp.join(work_dir, name)))
    out = []
    last = _from_last_checkpoint(work_dir)
    if last is not None and osp.isfile(last):
        out.append(last)
    for _, path in sorted(numbered, reverse=True):
        if not any(osp.samefile(path, p) for p in out):
            out.append(path)
    return out


def resolve_auto_resume(cfg: Config) -> None:
    """Set ``cfg.load_from`` to the newest intact checkpoint of
    ``cfg.work_dir`` when the config asks for auto-resume.

    Does nothing unless ``cfg.resume`` is true and ``cfg.load_from`` unset.

    Raises:
        UserError: the work dir does not exist, or every checkpoint in it
            is broken.
    """
    if not cfg.get('resume') or cfg.get('load_from'):
        return
    work_dir = cfg.work_dir
    if not osp.isdir(work_dir):
        raise UserError(
            f'--resume: the work dir "{work_dir}" does not exist, so there '
            'is nothing to resume. Check --work-dir (the folder of the run '
            'to continue), or leave out --resume to start a new training.')
    candidates = resume_candidates(work_dir)
    if not candidates:
        print_log(
            f'--resume: the work dir "{work_dir}" holds no checkpoint '
            '(no last_checkpoint, no epoch_*.pth / iter_*.pth): training '
            'STARTS FROM SCRATCH.', logger='current', level=logging.WARNING)
        cfg.resume = False
        return
    broken = []
    for path in candidates:
        reason = diagnose_checkpoint_file(path)
        if reason is None:
            if broken:
                print_log(
                    f'Auto-resume skips {len(broken)} broken checkpoint(s): '
                    + '; '.join(broken) + f'. Resuming from "{path}".',
                    logger='current', level=logging.WARNING)
            cfg.load_from = path
            return
        broken.append(f'"{path}" ({reason})')
    raise UserError(
        'Auto-resume found no intact checkpoint in the work dir '
        f'"{work_dir}": ' + '; '.join(broken) + '. Resume from an intact '
        'copy with --resume PATH, or leave out --resume to start anew.')
