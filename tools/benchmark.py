"""Measure training-step and inference throughput and peak memory.

    python tools/benchmark.py fan_small_12_p4_hybrid_token [MODEL ...]
        [--batch-size 16] [--img-size 224] [--iters 10] [--warmup 3]
        [--repeat 1] [--threads N] [--cpu-time] [--stl]
        [--teacher-amp auto|fp16|bf16|none] [--device cpu|cuda] [--json FILE]

MODEL is an upstream FAN variant name or a classifier config file. Every run
also measures mmpretrain's DeiT-Small (``VisionTransformer``, arch
``deit-small``) as the peer and reports each model's throughput relative to
it. ``--stl`` adds, for token models (``stl_mm.TokenLabelHead``), a full STL
student step (``STLClassifier``: a frozen teacher of the same architecture,
random weights, labels the unmixed teacher view with Gumbel token labels
that are then mixed like the student view) and reports the teacher's
overhead over the plain training step of the same model. The teacher runs
as the STL configs set it up (``amp='auto'``: fp16 autocast on GPUs, bf16
on CPUs with native bf16 support, else float32); ``--teacher-amp``
overrides that, and the table names the precision that actually ran.

How it measures (see docs/benchmark.md):

- Every (model, measurement) runs in its own subprocess, so that peak memory
  (max RSS on CPU, ``torch.cuda.max_memory_allocated`` on GPU) is its own.
- Every iteration is timed on its own and the median iteration time gives
  the throughput: a few iterations slowed down by other processes do not
  move it.
- ``--repeat R`` runs the whole sequence R times, round-robin over the
  models, so that slow changes of the machine load affect the peer and the
  models alike; the table shows each model's best repeat, ``--json`` has
  all of them.
- The STL overhead is the ratio of two medians measured in one process,
  the plain step and the STL step alternating iteration by iteration (the
  median over repeats).
- The load average of the machine is printed: on a shared machine the
  absolute numbers, and to a lesser degree the ratios, depend on it.
  ``--threads 1 --cpu-time`` times the CPU time of the (only) computing
  thread instead of the wall clock, which other processes hardly change.
"""
import argparse
import json
import sys

from stl_mm.apis.benchmark import format_table, run_benchmark, worker
from stl_mm.utils.cli import friendly_errors


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('models', nargs='+', help='variant names or configs')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--iters', type=int, default=10,
                        help='timed iterations per measurement')
    parser.add_argument('--warmup', type=int, default=3,
                        help='untimed iterations before them')
    parser.add_argument('--repeat', type=int, default=1,
                        help='run everything this many times, round-robin, '
                        'and report the best repeat of each model')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch intra-op threads (default: torch\'s)')
    parser.add_argument('--cpu-time', action='store_true',
                        help='time CPU time of the computing thread, not '
                        'wall-clock time (needs --threads 1, CPU only)')
    parser.add_argument('--stl', action='store_true',
                        help='also time the STL step (teacher + student)')
    parser.add_argument('--teacher-amp', choices=['auto', 'fp16', 'bf16', 'none'],
                        help='teacher autocast dtype for --stl (default: '
                        'the config\'s; none = float32)')
    parser.add_argument('--device', default=None,
                        help='cpu or cuda (default: cuda if available)')
    parser.add_argument('--json', help='write the results to this file')
    parser.add_argument('--_worker', nargs=2, metavar=('MODEL', 'KIND'),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.iters, args.repeat) < 1 or args.warmup < 0:
        parser.error('--iters and --repeat must be >= 1, --warmup >= 0')
    if args.cpu_time and (args.threads != 1 or args.device == 'cuda'):
        parser.error('--cpu-time needs --threads 1 and the CPU')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.device is None:
        import torch
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.cpu_time and args.device != 'cpu':
        raise SystemExit('--cpu-time needs --device cpu')
    if args._worker:
        worker(args, *args._worker)
        return 0
    try:
        report = run_benchmark(args)
    except ValueError as error:
        raise SystemExit(f'error: {error}')
    results = report['results']
    print('\n' + format_table(results, args, report['threads'],
                               report['loads']))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(batch_size=args.batch_size,
                           img_size=args.img_size, device=args.device,
                           torch_threads=report['threads'],
                           cpu_time=args.cpu_time, iters=args.iters,
                           repeat=args.repeat, load_average=report['loads'],
                           results=results), f, indent=2)
    return 0


if __name__ == '__main__':
    with friendly_errors():
        sys.exit(main())
