"""Write ImageNet-C style corrupted copies of an image dataset.

    python tools/make_corrupted_dataset.py SRC OUT [--layout
        imagefolder|cityscapes|coco] [--corruptions all] [--severities 1 2 3
        4 5] [--split ...] [--labels link|copy] [--seed 0] [-j N]

The layouts, the per-image seeding and the resume behaviour are described
in :mod:`stl_mm.robustness.corrupted_dataset`, which does the work.

Exit status: 0 when everything was written; 1 when inputs could not be read
(unless ``--skip-unreadable``) or a corruption failed; 2 on usage errors.
"""
import argparse
import sys

from stl_mm.robustness.corrupted_dataset import (DEFAULT_SPLITS, LAYOUTS,
                                                 InputError,
                                                 write_corrupted_dataset)
from stl_mm.robustness.corruptions import resolve_corruptions


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write corrupted (-C) copies of an image dataset with '
        'the imagecorruptions functions.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('src', help='input dataset root')
    parser.add_argument('out', help='output root')
    parser.add_argument(
        '--layout',
        choices=list(LAYOUTS),
        default='imagefolder',
        help='input layout, see the module docstring')
    parser.add_argument(
        '--corruptions',
        nargs='+',
        default=['all'],
        help='corruption names or groups: all (19), common (15), extra (4)')
    parser.add_argument(
        '--severities', nargs='+', type=int, default=[1, 2, 3, 4, 5])
    parser.add_argument(
        '--split',
        nargs='+',
        default=None,
        help='cityscapes: leftImg8bit splits (default val); coco: image '
        'folders (default val2017)')
    parser.add_argument(
        '--labels',
        choices=['link', 'copy'],
        default='link',
        help='cityscapes gtFine / coco annotations: symlink (default) or '
        'copy unchanged into every corruption/severity folder')
    parser.add_argument('--seed', type=int, default=0, help='base seed')
    parser.add_argument(
        '-j', '--workers', type=int, default=1, help='worker processes')
    parser.add_argument(
        '--jpeg-quality', type=int, default=95, help='JPEG output quality')
    parser.add_argument(
        '--skip-unreadable',
        action='store_true',
        help='report unreadable inputs but exit 0')
    parser.add_argument(
        '--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    try:
        args.corruptions = resolve_corruptions(args.corruptions)
    except ValueError as error:
        parser.error(str(error))
    if any(not 1 <= s <= 5 for s in args.severities):
        parser.error('--severities must be in 1..5')
    args.severities = sorted(set(args.severities))
    if args.workers < 1:
        parser.error('-j must be at least 1')
    if not 0 <= args.jpeg_quality <= 100:
        parser.error('--jpeg-quality must be in 0..100')
    if args.split is None:
        args.split = DEFAULT_SPLITS.get(args.layout, [])
    elif args.layout == 'imagefolder':
        parser.error('--split applies to the cityscapes and coco layouts')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        report = write_corrupted_dataset(
            args.src, args.out, args.corruptions, args.severities,
            layout=args.layout, splits=args.split, labels=args.labels,
            seed=args.seed, workers=args.workers,
            jpeg_quality=args.jpeg_quality,
            skip_unreadable=args.skip_unreadable,
            progress=not args.no_progress,
            log=lambda line: print(line, flush=True))
    except InputError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    print(f'wrote {report.written} files in {report.seconds:.1f}s, kept '
          f'{report.existing} existing.')
    for note in report.notes:
        print(f'note: {note}')
    if report.unreadable:
        print(f'{len(report.unreadable)} unreadable input(s): ' +
              ', '.join(report.unreadable[:20]) +
              (' ...' if len(report.unreadable) > 20 else ''),
              file=sys.stderr)
        if not args.skip_unreadable:
            print('(pass --skip-unreadable to accept this)', file=sys.stderr)
    if report.failed:
        print(f'{len(report.failed)} input(s) failed:\n  ' +
              '\n  '.join(report.failed[:20]), file=sys.stderr)
    return report.status


if __name__ == '__main__':
    sys.exit(main())
