"""Evaluate a segmentation or detection checkpoint on corrupted (-C) copies
of its test set: Cityscapes-C (mIoU) or COCO-C (box and mask AP).

    python tools/corruption_sweep.py CONFIG CHECKPOINT --task seg|det \\
        --corrupted-root data/cityscapes-c [--clean-root data/cityscapes] \\
        [--corruptions all] [--severities 1 2 3 4 5] [--work-dir DIR]

For every (corruption, severity) pair the test loop of mmengine's Runner
runs (``stl_mm.engine.run_test``, as in tools/test.py) with the config's test set pointed at
``CORRUPTED_ROOT/<corruption>/<severity>`` (a Cityscapes or COCO root, the
layout ``tools/make_corrupted_dataset.py`` writes). With ``--clean-root``
the missing corrupted images are generated first
(``stl_mm.robustness.corrupted_dataset``; existing files are kept); without it the copies must exist.

Each pair's metrics go to ``WORK_DIR/results/<corruption>_s<severity>.json``;
a pair whose file exists for the same checkpoint is not evaluated again
(the sweep resumes; ``--force`` recomputes). The per-corruption means over
severities and the overall mean (mIoU, or box/mask AP in percent) are
printed as a table and saved as ``WORK_DIR/summary.json`` and
``WORK_DIR/summary.md``. ``--collect`` only summarises the stored results.

Multi-GPU: ``torchrun --nproc_per_node=8 tools/corruption_sweep.py ...
--launcher pytorch`` (rank 0 generates missing images and writes the
results).
"""
import argparse
import dataclasses
import os
import os.path as osp
import sys

from mmengine.config import DictAction

from stl_mm.apis.robustness import SweepSettings, corruption_sweep
from stl_mm.robustness import sweep
from stl_mm.robustness.corruptions import resolve_corruptions
from stl_mm.utils.cli import friendly_errors


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Evaluate a segmentation/detection checkpoint on every '
        '(corruption, severity) copy of its test set and summarise.')
    parser.add_argument('config', help='model config (mmseg or mmdet)')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint (not needed with --collect)')
    parser.add_argument('--task', choices=sorted(sweep.TASKS),
                        required=True,
                        help='seg: Cityscapes-C mIoU; det: COCO-C box and '
                        'mask AP')
    parser.add_argument('--corrupted-root',
                        help='root of the -C copies: '
                        '<root>/<corruption>/<severity>/ is a dataset root')
    parser.add_argument('--clean-root',
                        help='clean dataset root; given, missing corrupted '
                        'images are generated from it '
                        '(tools/make_corrupted_dataset.py)')
    parser.add_argument('--corruptions', nargs='+', default=None,
                        help='names or groups: all (19, the default), '
                        'common (15), extra (4); with --collect the '
                        'default is every corruption with results')
    parser.add_argument('--severities', nargs='+', type=int, default=None,
                        help='default 1 2 3 4 5; with --collect every '
                        'severity with results')
    parser.add_argument('--eval-clean', action='store_true',
                        help='also evaluate the clean set (--clean-root, '
                        'else the config\'s own test root)')
    parser.add_argument('--work-dir', help='results folder (default '
                        'work_dirs/corruption_sweep/<config name>)')
    parser.add_argument('--collect', action='store_true',
                        help='only summarise the results in --work-dir')
    parser.add_argument('--force', action='store_true',
                        help='evaluate pairs that have results already')
    parser.add_argument('--seed', type=int, default=0,
                        help='corruption seed for generated images')
    parser.add_argument('-j', '--workers', type=int, default=1,
                        help='processes generating corrupted images')
    parser.add_argument('--labels', choices=['link', 'copy'],
                        default='link',
                        help='generated copies: link (default) or copy the '
                        'labels/annotations')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision inference')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config for every '
                        'pair, key=value pairs')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.corruptions is not None or not args.collect:
        try:
            args.corruptions = resolve_corruptions(args.corruptions
                                                   or ['all'])
        except ValueError as error:
            parser.error(str(error))
    if args.severities is not None or not args.collect:
        args.severities = sorted(set(args.severities or [1, 2, 3, 4, 5]))
        if any(not 1 <= s <= 5 for s in args.severities):
            parser.error('--severities must be in 1..5')
    if not args.collect:
        if not args.checkpoint:
            parser.error('CHECKPOINT is required unless --collect is given')
        if not args.corrupted_root:
            parser.error('--corrupted-root is required unless --collect is '
                         'given')
    if args.work_dir is None:
        name = osp.splitext(osp.basename(args.config))[0]
        args.work_dir = osp.join('work_dirs', 'corruption_sweep', name)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    fields = {f.name for f in dataclasses.fields(SweepSettings)}
    settings = SweepSettings(**{k: v for k, v in vars(args).items()
                                if k in fields})
    _, table = corruption_sweep(settings)
    if table is not None:
        print(table)
    return 0


if __name__ == '__main__':
    with friendly_errors():
        sys.exit(main())
