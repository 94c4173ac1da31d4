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
import os
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from stl_mm.models.backbones import FAN  # noqa: E402
from stl_mm.models.utils.fan_checkpoint import (  # noqa: E402
    BACKBONE_PREFIX, check_state_matches, extract_state_dict,
    find_matching_arch, nearest_arch, to_classifier_format)
from stl_mm.utils.checkpoint import safe_load  # noqa: E402


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


def convert(src: str, dst: str, arch: str = None, ema: bool = True,
            trusted: bool = None) -> dict:
    ckpt = safe_load(src, map_location='cpu', trusted=trusted)
    raw, which = extract_state_dict(ckpt, prefer_ema=ema)
    state = to_classifier_format(raw)
    # mmengine EMAHook files keep the averaged weights in 'state_dict'
    used_ema = which == 'state_dict_ema' or (
        which == 'state_dict' and 'ema_state_dict' in ckpt)
    if not any(k.startswith(BACKBONE_PREFIX) for k in state):
        raise ValueError(f'{src}: no FAN weights found (entry {which!r}).')
    detected = find_matching_arch(state)
    if arch is None:
        if detected is None:
            # report the keys that do not fit the closest variant
            closest, _ = nearest_arch(state)
            check_state_matches(_meta_state(closest), state,
                                f'{closest} (the closest variant)')
        arch = detected
    else:
        check_state_matches(_meta_state(arch), state, arch)
        has_aux = any(k.startswith('head.aux_fc.') for k in state)
        if has_aux != arch.endswith('_token') and detected is not None:
            print(f'note: the file {"has" if has_aux else "lacks"} an aux '
                  f"head; its closest name is '{detected}'", file=sys.stderr)
    out = {
        'meta': {'arch': arch, 'source': osp.abspath(src), 'ema': used_ema,
                 'source_entry': which},
        'state_dict': state,
    }
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(out, dst)
    return out


def _meta_state(arch: str) -> dict:
    with torch.device('meta'):
        return FAN(arch).state_dict()


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        out = convert(args.src, args.dst, args.arch, ema=not args.no_ema,
                      trusted=True if args.trusted else None)
    except (ValueError, FileNotFoundError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    meta = out['meta']
    print(f"wrote {args.dst}: arch={meta['arch']}, "
          f"weights from '{meta['source_entry']}' (ema={meta['ema']}), "
          f"{len(out['state_dict'])} tensors")
    return 0


if __name__ == '__main__':
    sys.exit(main())
