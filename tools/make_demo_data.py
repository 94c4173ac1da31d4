#!/usr/bin/env python
"""Write the embedded synthetic demo datasets (see docs/CONTRACTS.md).

    python tools/make_demo_data.py OUT_DIR [--tasks cls seg det]
        [--num-classes K] [--train-per-class N] [--val-per-class M]
        [--img-size S] [--scene-train N] [--scene-val M]
        [--scene-size H W] [--seed S] [--force]

A thin command line over :mod:`stl_mm.datasets.demo_data`. The module is
loaded from its file so that the generator needs only numpy and Pillow and
does not pay for importing torch and mmengine through ``stl_mm``.
"""
import importlib.util
import os.path as osp
import sys

_MODULE = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'stl_mm',
                   'datasets', 'demo_data.py')


def _load_generator():
    spec = importlib.util.spec_from_file_location('_stl_mm_demo_data',
                                                  _MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if __name__ == '__main__':
    sys.exit(_load_generator().main())
