#!/usr/bin/env python
"""Convert an upstream (NVlabs FAN/STL, timm) FAN checkpoint for stl_mm.

    python tools/convert_official_checkpoint.py SRC DST [--arch NAME]
        [--no-ema] [--trusted]

Writes an mmengine checkpoint ``{'meta': {'arch', 'source', 'ema'},
'state_dict': ...}`` whose state dict is in the classifier layout
(``backbone.*``, ``head.fc.*``, ``head.aux_fc.*``), ready for
``load_from=DST`` or a backbone ``init_cfg=dict(type='Pretrained',
checkpoint=DST)``. The variant is detected from the weight shapes, or checked
against ``--arch``; a file that fits no variant is refused with the keys
that do not fit.
"""
import argparse
import sys

from stl_mm.apis.convert import convert_fan_checkpoint
from stl_mm.models.backbones import FAN
from stl_mm.utils.cli import friendly_errors


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert an upstream FAN/STL checkpoint to the stl_mm '
        'classifier layout.')
    parser.add_argument('src', help='upstream checkpoint (.pth / .pth.tar)')
    parser.add_argument('dst', help='output file')
    parser.add_argument(
        '--arch', choices=sorted(FAN.arch_zoo),
        help='expected variant (default: detected from the weight shapes)')
    parser.add_argument(
        '--no-ema', action='store_true',
        help='take the raw weights even when the file has EMA weights')
    parser.add_argument(
        '--trusted', action='store_true',
        help='unpickle with full pickle (only for files you trust)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        out = convert_fan_checkpoint(
            args.src, args.dst, args.arch, ema=not args.no_ema,
            trusted=True if args.trusted else None)
    except (ValueError, FileNotFoundError) as error:  # exit status 1
        print(f'error: {error}', file=sys.stderr)
        return 2
    meta = out['meta']
    print(f"wrote {args.dst}: arch={meta['arch']}, "
          f"weights from '{meta['source_entry']}' (ema={meta['ema']}), "
          f"{len(out['state_dict'])} tensors")
    return 0


if __name__ == '__main__':
    with friendly_errors():
        sys.exit(main())
