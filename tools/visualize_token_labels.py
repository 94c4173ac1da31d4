"""Draw the token labels of an STL token model (Figure 2 of the paper).

    python tools/visualize_token_labels.py CONFIG CHECKPOINT IMAGE... \
        [--out-dir DIR] [--tau 1.0] [--seed 0]

CONFIG is a config file or an upstream variant name (e.g.
``fan_tiny_8_p4_hybrid_token``); CHECKPOINT one of ours (phase-1 token
labeler, STL student) or an upstream ``.pth.tar``. Per image, a PNG with
five panels: the image, the arg-max class of each token, each token's
confidence (max softmax probability), a hard Gumbel-Softmax sample of the
token classes as drawn for the STL student's targets (crosses mark tokens
whose sample differs from the arg-max), and the histogram of token
confidences over all given images; plus ``confidence_histogram.png``
(object vs background tokens when the embedded demo masks are found next to
the images). The numbers are printed and saved as ``token_label_stats.json``.
"""
import argparse
import json
import os.path as osp
import sys

from stl_mm.apis import init_model, visualize_token_labels
from stl_mm.apis.token_labels import describe_token_label_stats
from stl_mm.utils.cli import friendly_errors


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Draw the per-token labels of an STL token model '
        '(token labeler or student).',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('config', help='config file or upstream FAN variant '
                        'name (a *_token variant)')
    parser.add_argument('checkpoint', help='checkpoint file (ours or an '
                        'upstream .pth.tar); EMA weights are preferred')
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('--out-dir', default='work_dirs/token_labels',
                        help='where the PNGs go')
    parser.add_argument('--tau', type=float, default=1.0,
                        help='Gumbel-Softmax temperature (as in training; '
                        'a hard sample picks class k with probability '
                        'softmax(logits)_k for any tau)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the Gumbel noise')
    parser.add_argument('--raw-weights', action='store_true',
                        help='use the raw instead of the EMA weights')
    parser.add_argument('--no-masks', action='store_true',
                        help='do not look for demo object masks next to '
                        'the images')
    parser.add_argument('--prefix', default='', help='file name prefix')
    parser.add_argument('--title', default=None, help='figure title')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--confidence-threshold', default='0.5',
                        help="the trinary map's confident/unconfident split: "
                        "a probability, or 'median' (the median confidence "
                        'of all tokens of the given images)')
    args = parser.parse_args(argv)
    if args.tau <= 0:
        parser.error(f'--tau must be positive, got {args.tau}')
    if args.confidence_threshold != 'median':
        try:
            args.confidence_threshold = float(args.confidence_threshold)
        except ValueError:
            parser.error("--confidence-threshold must be a probability or "
                         f"'median', got {args.confidence_threshold!r}")
        if not 0. <= args.confidence_threshold <= 1.:
            parser.error('--confidence-threshold must be in [0, 1], got '
                         f'{args.confidence_threshold}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    for image in args.images:
        if not osp.isfile(image):
            raise FileNotFoundError(f'Image not found: "{image}"')
    model = init_model(args.config, args.checkpoint, device=args.device,
                       prefer_ema=not args.raw_weights)
    result = visualize_token_labels(
        model, args.images, args.out_dir, tau=args.tau, seed=args.seed,
        masks=None if args.no_masks else 'auto', prefix=args.prefix,
        title=args.title, confidence_threshold=args.confidence_threshold)
    stats_file = osp.join(args.out_dir, f'{args.prefix}token_label_stats.json')
    with open(stats_file, 'w') as f:
        json.dump(dict(config=args.config, checkpoint=args.checkpoint,
                       tau=args.tau, seed=args.seed, **result), f, indent=2)
    for path in result['figures']:
        print(f'wrote {path}')
    print(f'wrote {result["histogram"]}')
    print(describe_token_label_stats(result['stats']))
    return 0


if __name__ == '__main__':
    with friendly_errors():
        sys.exit(main())
