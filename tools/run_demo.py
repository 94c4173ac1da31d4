"""The stl_mm demo: STL end to end on generated data, on a CPU, in minutes.

    bash tools/demo.sh              # = tools/setup_env.sh + this script
    python tools/run_demo.py [--work-dir work_dirs/demo]
        [--data-root data/demo] [--train-per-class N] [--val-per-class M]
        [--epochs E] [--labeler-epochs L] [--corruptions C ...]
        [--severities S ...]
        [--vis-images V] [--threads T] [--quick] [--force]

Stages (each prints a header with the elapsed time and an estimate of the
time left), all in this process through package calls:

1. generate the demo data (``stl_mm.datasets.demo_data``,
   ``cls_style='texture'``: 4 classes told apart by the object's fill
   pattern, 128x128 images with object masks);
2. write corrupted copies of its val split
   (``stl_mm.robustness.corrupted_dataset``, as
   ``tools/make_corrupted_dataset.py``);
3. train the STL token labeler, phase 1 (``stl_mm.engine.run_train`` of
   ``configs/stl/demo/fan_demo128_token_labeler.py``);
4. train the STL student, phase 2, with the phase-1 checkpoint (EMA weights)
   as its frozen teacher (``configs/stl/demo/fan_demo128_student.py``);
5. train a baseline student without token labels, same budget
   (``configs/stl/demo/fan_demo128_baseline.py``);
6. evaluate every model on the clean val split and on every corrupted copy
   (``stl_mm.engine.run_test``, one run per model over all sets, with
   per-image predictions) and compare STL with the baseline by a paired
   bootstrap over images (``stl_mm.evaluation.paired_stats``);
7. draw token-label figures (``stl_mm.apis.visualize_token_labels``, as
   ``tools/visualize_token_labels.py``) of val images with the phase-1
   teacher and with the STL student, and check the teacher's token labels
   against the targets (object tokens with the image class, confidence AUC
   of object vs background tokens).

It ends with a results table; everything lands in the work dir, with
``summary.json`` (configs, checkpoints, the equivalent ``tools/train.py``
commands, per-stage wall time, all metrics, the bootstrap intervals). A
finished stage is skipped when run again with the same settings
(``--force`` redoes everything). See docs/demo.md.
"""
import argparse
import os.path as osp
import sys

from stl_mm.apis.demo import DEFAULTS, QUICK, Demo
from stl_mm.utils.cli import friendly_errors


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Run the STL demo end to end on generated data (CPU).',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/demo',
                        help='demo data folder (cls/ and cls-c/ below it)')
    parser.add_argument('--train-per-class', type=int,
                        help=f'training images per class (default '
                        f'{DEFAULTS["train_per_class"]}, --quick '
                        f'{QUICK["train_per_class"]})')
    parser.add_argument('--val-per-class', type=int,
                        help=f'val images per class (default '
                        f'{DEFAULTS["val_per_class"]}, --quick '
                        f'{QUICK["val_per_class"]})')
    parser.add_argument('--epochs', type=int,
                        help=f'epochs of each training stage (default '
                        f'{DEFAULTS["epochs"]}, --quick {QUICK["epochs"]})')
    parser.add_argument('--labeler-epochs', type=int,
                        help=f'epochs of the token labeler (phase 1; '
                        f'default {DEFAULTS["labeler_epochs"]}, --quick '
                        f'{QUICK["labeler_epochs"]})')
    parser.add_argument('--corruptions', nargs='+',
                        help=f'corruptions of the val copies (default '
                        f'{" ".join(DEFAULTS["corruptions"])})')
    parser.add_argument('--severities', nargs='+', type=int,
                        help='corruption severities 1-5 (default 3)')
    parser.add_argument('--vis-images', type=int,
                        help='val images drawn per model (default '
                        f'{DEFAULTS["vis_images"]})')
    parser.add_argument('--quick', action='store_true',
                        help='a smoke run: few images, one epoch, two '
                        'corruptions (explicit options still win)')
    parser.add_argument('--force', action='store_true',
                        help='redo every stage, even finished ones')
    parser.add_argument('--workers', type=int, default=2,
                        help='processes writing the demo images and their '
                        'corrupted copies')
    parser.add_argument('--threads', type=int, default=2,
                        help='torch threads of the training and evaluation '
                        '(1 degrades least when other jobs share the CPU)')
    args = parser.parse_args(argv)
    base = QUICK if args.quick else DEFAULTS
    for key, value in base.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.train_per_class < 1 or args.val_per_class < 1:
        parser.error('--train-per-class and --val-per-class must be >= 1')
    if args.threads < 1 or args.workers < 1:
        parser.error('--threads and --workers must be >= 1')
    if args.epochs < 1 or args.labeler_epochs < 1:
        parser.error('--epochs and --labeler-epochs must be >= 1')
    if any(s not in range(1, 6) for s in args.severities):
        parser.error('--severities must be in 1..5')
    if args.vis_images < 0:
        parser.error('--vis-images must be >= 0')
    args.work_dir = osp.abspath(args.work_dir)
    args.data_root = osp.abspath(args.data_root)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    Demo(args).run()
    return 0


if __name__ == '__main__':
    with friendly_errors():
        sys.exit(main())
