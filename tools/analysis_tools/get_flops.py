#!/usr/bin/env python
"""Print the parameters and MACs of FAN models.

    python tools/analysis_tools/get_flops.py CONFIG|VARIANT [...]
        [--shape H W]

CONFIG is a config file (classification configs count the whole classifier,
segmentation/detection configs their backbone), VARIANT an upstream FAN
variant name (e.g. fan_small_12_p4_hybrid_token), ``all`` every variant.
MACs are counted by ``mmengine.analysis`` with a handle for fused attention
(``scaled_dot_product_attention``), see ``stl_mm.apis.complexity``.
"""
import argparse
import sys

from stl_mm.apis.complexity import print_complexity
from stl_mm.utils.cli import friendly_errors


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Parameters and MACs of a model')
    parser.add_argument('models', nargs='+',
                        help='config files, variant names or "all"')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224],
                        metavar=('H', 'W'), help='input size (default 224)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    print_complexity(args.models, args.shape)
    return 0


if __name__ == '__main__':
    with friendly_errors():
        sys.exit(main())
