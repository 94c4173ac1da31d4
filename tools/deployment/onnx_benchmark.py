"""Throughput of an exported model on onnxruntime (CPU) next to PyTorch eager.

    python tools/deployment/onnx_benchmark.py MODEL [CHECKPOINT]
        [--onnx FILE] [--shape H W] [--batch-size 8] [--threads 1 [2 ...]]
        [--iters 10] [--warmup 2] [--cpu-time]

MODEL is a FAN variant name or a config; without CHECKPOINT the initial
weights are timed (the speed does not depend on them). Without --onnx the
model is exported (fixed shape) to a temporary file first. Both runtimes get
the same input and --threads intra-op threads (one JSON line per thread
count) and run in turns; each reports the median iteration time as images/s
(docs/deployment.md). --cpu-time (with --threads 1) times the CPU time of
the computing thread instead of the wall clock, for shared machines.
"""
import argparse
import json
import os.path as osp
import sys
import tempfile

from stl_mm.apis.onnx_export import (benchmark_onnx, export_onnx,
                                     load_for_export)
from stl_mm.utils.cli import friendly_errors


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='onnxruntime CPU vs PyTorch eager throughput.')
    parser.add_argument('model', help='FAN variant name or config file')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint file')
    parser.add_argument('--onnx', help='an exported model of MODEL '
                        '(default: export one to a temporary file)')
    parser.add_argument('--shape', type=int, nargs=2, default=(224, 224),
                        metavar=('H', 'W'))
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--threads', type=int, nargs='+', default=[1])
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--cpu-time', action='store_true',
                        help='time thread CPU time (needs --threads 1)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    model = load_for_export(args.model, args.checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_file = args.onnx or export_onnx(
            model, osp.join(tmp, 'model.onnx'), args.shape,
            batch_size=args.batch_size).path
        for threads in args.threads:
            numbers = benchmark_onnx(model, onnx_file, args.batch_size,
                                     tuple(args.shape), threads=threads,
                                     iters=args.iters, warmup=args.warmup,
                                     cpu_time=args.cpu_time)
            print(json.dumps(dict(model=args.model,
                                  batch_size=args.batch_size,
                                  shape=list(args.shape), threads=threads,
                                  iters=args.iters, cpu_time=args.cpu_time,
                                  **numbers)), flush=True)
    return 0


if __name__ == '__main__':
    with friendly_errors():
        sys.exit(main())
