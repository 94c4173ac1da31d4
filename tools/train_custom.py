"""STL on your own images: a folder of class sub-folders -> split, token
labeler, STL student (and a baseline), evaluation report.

    python tools/train_custom.py DATA_DIR --work-dir WORK [--quick]

DATA_DIR/<class name>/<image> (JPEG, PNG, BMP, WebP, TIFF; any size;
grayscale, RGBA and 16-bit files are converted). Writes WORK/splits/,
WORK/configs/ (real configs: tools/train.py and tools/test.py run them with
no other option), one work dir per model, WORK/report/ and
WORK/summary.json. See docs/custom_data.md.
"""
import argparse
import os
import sys

from stl_mm.apis.custom_data import CustomDataOptions, run_custom_data
from stl_mm.utils.cli import friendly_errors


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train an STL token labeler, an STL student and a '
        'baseline on a folder of class sub-folders, and write an '
        'evaluation report.')
    parser.add_argument('data_dir', help='folder with one sub-folder of '
                        'images per class')
    parser.add_argument('--work-dir', required=True,
                        help='where splits, configs, checkpoints and the '
                        'report go')
    parser.add_argument('--arch', default='fan_tiny_8_p4_hybrid_token',
                        help='FAN-Hybrid variant name or a config file with '
                        'an stl_mm.FAN backbone (default: %(default)s)')
    parser.add_argument('--load-from', help='initialise the backbones from '
                        'this checkpoint (upstream FAN .pth.tar or stl_mm)')
    parser.add_argument('--img-size', type=int, help='training and '
                        'evaluation size, a multiple of 16 (default 224; '
                        '--quick: 64)')
    parser.add_argument('--epochs', type=int, help='epochs per model '
                        '(default 100 from scratch, 30 with --load-from; '
                        '--quick: 1)')
    parser.add_argument('--batch-size', type=int,
                        help='batch size (default 32; --quick: 8)')
    parser.add_argument('--lr', type=float, help='learning rate (default '
                        'AdamW 3e-4, 1e-4 with --load-from; Sophia 3e-2)')
    parser.add_argument('--weight-decay', type=float, help='weight decay '
                        '(default AdamW 0.05, Sophia 5e-4)')
    parser.add_argument('--optimizer', choices=['adamw', 'sophia'],
                        default='adamw', help='AdamW (default) or SophiaH '
                        '(pytorch-optimizer)')
    parser.add_argument('--val-ratio', type=float, default=0.2,
                        help='share of each class held out for validation '
                        '(default %(default)s)')
    parser.add_argument('--val-dir', help='a val folder with the same class '
                        'sub-folders, instead of splitting DATA_DIR')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the split and of training')
    parser.add_argument('--no-baseline', action='store_true',
                        help='skip the baseline (image labels only)')
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: tiny FAN, 64 px, 1 epoch per model, '
                        'a few dozen iterations (about 2 minutes on 2 CPU '
                        'cores)')
    parser.add_argument('--skip-unreadable', action='store_true',
                        help='leave unreadable images out (named and '
                        'counted) instead of stopping')
    parser.add_argument('--force', action='store_true',
                        help='rerun finished stages')
    parser.add_argument('--workers', type=int, help='data loader workers '
                        '(default 2; --quick: 0)')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    run_custom_data(CustomDataOptions(
        data_dir=args.data_dir, work_dir=args.work_dir, arch=args.arch,
        img_size=args.img_size, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, optimizer=args.optimizer,
        val_ratio=args.val_ratio, val_dir=args.val_dir, seed=args.seed,
        baseline=not args.no_baseline, quick=args.quick,
        load_from=args.load_from, skip_unreadable=args.skip_unreadable,
        force=args.force, workers=args.workers, launcher=args.launcher))
    return 0


if __name__ == '__main__':
    with friendly_errors():
        sys.exit(main())
