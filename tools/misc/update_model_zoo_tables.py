#!/usr/bin/env python
"""Regenerate the model-zoo tables of README.md and
configs/{fan,stl,lvvit}/README.md from the metafiles (configs/*/metafile.yml).

    python tools/misc/update_model_zoo_tables.py [--check]

``--check`` writes nothing and exits 1 when a table is out of date.
"""
import argparse
import sys

from stl_mm.apis.model_index import update_tables
from stl_mm.utils.cli import friendly_errors
from stl_mm.utils.resources import resource_root


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Model-zoo tables from the metafiles')
    parser.add_argument('--check', action='store_true',
                        help='only report out-of-date tables (exit 1)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    changed = update_tables(str(resource_root()), check=args.check)
    for path in changed:
        print(f'{"out of date" if args.check else "updated"}: {path}')
    return 1 if args.check and changed else 0


if __name__ == '__main__':
    with friendly_errors():
        sys.exit(main())
