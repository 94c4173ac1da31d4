"""Dump offline token-label maps (TokenLabeling format) of a data set.

    python tools/dump_token_labels.py TEACHER_CONFIG TEACHER_CKPT DATA_ROOT \
        --out DIR [--topk 5] [--img-size 224]

runs the token model once over every image under DATA_ROOT and writes
DIR/<relative path>.pt = [2, k, H, W] (top-k token logits, class indices).
Resumable (existing maps are skipped); multi-process with
    python -m torch.distributed.run --nproc_per_node N \
        tools/dump_token_labels.py ... --launcher pytorch
"""
import argparse
import os

import torch

import stl_mm  # noqa: F401 (safe checkpoint loading, registry)
from stl_mm.apis.token_label_dump import dump_token_labels
from stl_mm.utils.cli import friendly_errors


def parse_args():
    parser = argparse.ArgumentParser(
        description='Write the token-label maps of a teacher for a data set')
    parser.add_argument('teacher', help='teacher config file or variant '
                        'name (e.g. fan_small_12_p4_hybrid_token, lvvit_s)')
    parser.add_argument('checkpoint', help="teacher weights (ours or an "
                        "upstream file); 'none' for random weights")
    parser.add_argument('data_root', help='image folder (searched '
                        'recursively; the map tree mirrors it)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--topk', type=int, default=5,
                        help='scores kept per token (default 5)')
    parser.add_argument('--img-size', type=int, default=224,
                        help='the whole image is resized to this square')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--device', default=None,
                        help='default: cuda:LOCAL_RANK if available, else '
                        'cpu')
    parser.add_argument('--overwrite', action='store_true',
                        help='rewrite existing maps instead of skipping')
    parser.add_argument('--no-ema', action='store_true',
                        help='use the raw weights, not the EMA ones')
    parser.add_argument('--launcher', choices=['none', 'pytorch'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.launcher == 'pytorch':
        os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
        if torch.cuda.is_available():
            from mmengine.dist import init_dist
            init_dist('pytorch', backend='nccl')
        else:  # mmengine's init_dist assumes CUDA
            torch.distributed.init_process_group(backend='gloo')
    summary = dump_token_labels(
        args.teacher,
        None if args.checkpoint.lower() == 'none' else args.checkpoint,
        args.data_root, args.out, topk=args.topk, img_size=args.img_size,
        batch_size=args.batch_size, device=args.device,
        overwrite=args.overwrite, prefer_ema=not args.no_ema)
    print(f"\n{summary['written']} maps written, {summary['skipped']} "
          f"already there ({summary['total']} images in all); top-"
          f"{summary['topk']}, grid {summary['grid']}, "
          f"{summary['num_classes']} classes -> {args.out}")


if __name__ == '__main__':
    with friendly_errors():
        main()
