"""One robustness table for a classifier: IN-1K, IN-C, mCE, IN-A, IN-R.

Run mode (default) evaluates the checkpoint on every set whose root is
given, through mmengine's Runner test loop (as tools/test.py does), with the
dataset/evaluator settings of ``configs/robustness/_base_/<set>.py`` put in
place of the model config's ``test_dataloader``/``test_evaluator``. Each
set writes into ``WORK_DIR/<set>/`` and its returned metrics to
``WORK_DIR/<set>.metrics.json``; ImageNet-C, -A and -R also write their
detailed ``WORK_DIR/<set>.json``/``.csv``.

``--collect`` evaluates nothing: it reads the ``*.metrics.json`` files
already in WORK_DIR.

Both print the table (as in the FAN/STL papers, accuracies and mCE in
percent) and save it as ``WORK_DIR/robustness_report.md`` and ``.json``.
Sets without a root (run mode) or without results (collect mode) are shown
as "—". A value computed over an incomplete ImageNet-C is marked "*".

``--cfg-options`` apply to every composed config (after the set's
settings), e.g. ``model.head.fusion=cls_plus_max`` or
``test_dataloader.batch_size=64``. ``--dump-configs`` also saves each
composed config as ``WORK_DIR/<set>_config.py`` for tools/test.py.
"""
import argparse
import os.path as osp
import sys
from typing import Dict, Optional

from mmengine.config import DictAction

from stl_mm.apis.robustness import robustness_report
from stl_mm.utils.cli import friendly_errors


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Evaluate (or collect) IN-1K, IN-C, IN-A and IN-R '
        'results and print one table.')
    parser.add_argument('config', help='model config (classification)')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint (not needed with --collect)')
    parser.add_argument('--imagenet-root',
                        help='ImageNet root holding val/<wnid>/ (or the val '
                        'folder itself)')
    parser.add_argument('--imagenet-c-root', help='ImageNet-C root')
    parser.add_argument('--imagenet-a-root', help='ImageNet-A root')
    parser.add_argument('--imagenet-r-root', help='ImageNet-R root')
    parser.add_argument('--work-dir', help='results folder (default '
                        'work_dirs/robustness/<config name>)')
    parser.add_argument('--collect', action='store_true',
                        help='only read existing results from --work-dir')
    parser.add_argument('--name', help='model name in the table (default: '
                        'the config file name)')
    parser.add_argument('--dump-configs', action='store_true',
                        help='save each composed config into --work-dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of every composed config, '
                        'key=value pairs (e.g. model.head.fusion=cls_plus_max'
                        ' test_dataloader.batch_size=64)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'],
                        default='none', help='job launcher')
    args = parser.parse_args(argv)
    if not args.collect and not args.checkpoint:
        parser.error('CHECKPOINT is required unless --collect is given')
    if args.work_dir is None:
        name = osp.splitext(osp.basename(args.config))[0]
        args.work_dir = osp.join('work_dirs', 'robustness', name)
    return args


def _roots(args) -> Dict[str, Optional[str]]:
    return {
        'imagenet-1k': args.imagenet_root,
        'imagenet-c': args.imagenet_c_root,
        'imagenet-a': args.imagenet_a_root,
        'imagenet-r': args.imagenet_r_root,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    _, table = robustness_report(
        args.config, args.checkpoint, roots=_roots(args),
        work_dir=args.work_dir, collect=args.collect, name=args.name,
        cfg_options=args.cfg_options, launcher=args.launcher,
        dump_configs=args.dump_configs)
    if table is not None:
        print(table)
    return 0


if __name__ == '__main__':
    with friendly_errors():
        sys.exit(main())
