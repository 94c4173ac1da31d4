#!/usr/bin/env python
"""Write the embedded synthetic demo datasets (see docs/CONTRACTS.md).

    python tools/make_demo_data.py OUT_DIR [--tasks cls seg det]
        [--num-classes K] [--train-per-class N] [--val-per-class M]
        [--img-size S] [--scene-train N] [--scene-val M]
        [--scene-size H W] [--seed S] [--cls-style shape|texture] [--force]

A thin command line over :func:`stl_mm.datasets.demo_data.make_demo_data`.
"""
import argparse
import sys
from typing import Optional, Sequence

from stl_mm.datasets.demo_data import (CLS_STYLES, TASKS,
                                       cityscapes_mapping_table,
                                       make_demo_data)
from stl_mm.utils.cli import friendly_errors


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write small deterministic synthetic datasets: '
        'ImageNet-style classification with object masks (cls), '
        'Cityscapes-format segmentation (seg) and COCO-format '
        'detection/instance segmentation (det).',
        epilog='Cityscapes mapping of the scene regions:\n' +
        cityscapes_mapping_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('out_dir', help='output folder')
    parser.add_argument('--tasks', nargs='+', choices=TASKS, default=['cls'],
                        help='datasets to write (default: cls)')
    parser.add_argument('--num-classes', type=int, default=4,
                        help='classification classes (2-64; the seg/det '
                        'scenes use the first min(K, 8) shapes)')
    parser.add_argument('--train-per-class', type=int, default=32)
    parser.add_argument('--val-per-class', type=int, default=8)
    parser.add_argument('--img-size', type=int, default=64,
                        help='classification image side, a multiple of 16')
    parser.add_argument('--scene-train', type=int, default=16,
                        help='seg/det training scenes')
    parser.add_argument('--scene-val', type=int, default=4,
                        help='seg/det validation scenes')
    parser.add_argument('--scene-size', type=int, nargs=2, default=[128, 256],
                        metavar=('H', 'W'),
                        help='seg/det scene size, multiples of 32')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cls-style', choices=CLS_STYLES, default='shape',
                        help='what makes a classification class: the '
                        "object's outline (shape) or its fill pattern "
                        '(texture, 2-4 classes: the STL demo set)')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if the output is up to date')
    args = parser.parse_args(argv)
    args._parser = parser
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        make_demo_data(args.out_dir, tasks=args.tasks,
                       num_classes=args.num_classes,
                       train_per_class=args.train_per_class,
                       val_per_class=args.val_per_class,
                       img_size=args.img_size, scene_train=args.scene_train,
                       scene_val=args.scene_val, scene_size=args.scene_size,
                       seed=args.seed, force=args.force,
                       cls_style=args.cls_style)
    except (ValueError, FileExistsError) as e:
        args._parser.error(str(e))
    return 0


if __name__ == '__main__':
    with friendly_errors():
        sys.exit(main())
