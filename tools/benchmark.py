"""Measure training-step and inference throughput and peak memory.

    python tools/benchmark.py fan_small_12_p4_hybrid_token [MODEL ...]
        [--batch-size 16] [--img-size 224] [--iters 10] [--warmup 3]
        [--repeat 1] [--threads N] [--cpu-time] [--stl]
        [--amp none|bf16|fp16 ...] [--channels-last] [--compile [yes|both]]
        [--peers PEER ...] [--teacher-amp auto|fp16|bf16|none]
        [--device cpu|cuda] [--json FILE]

MODEL is an upstream FAN variant name, a classifier config file,
``deit-small`` (mmpretrain) or ``timm:<timm model name>``. Every run also
measures the peers, by default timm's ConvNeXt-T (``timm:convnext_tiny``,
the reference of the ratios) and DeiT-S (``timm:deit_small_patch16_224``)
when timm is installed (``requirements/bench.txt``) and mmpretrain's DeiT-S
(``VisionTransformer``, arch ``deit-small``); ``--peers`` replaces them (the
first one is the reference). Every row has the model's GMACs per image
(``stl_mm.apis.complexity``, the FLOPs tool's counter), the achieved GMAC/s
(training: three forward passes' MACs per image) and their share of the
machine's GEMM peak of the same dtype, measured by a short ``F.linear``
probe at the start of every repeat.

``--amp`` runs the training step (forward and loss under autocast; fp16 on
CUDA with a gradient scaler) and the inference forward in autocast of that
dtype; several values give one block of rows each. ``--channels-last``
converts the model and the input batch to channels-last; ``--compile``
measures ``torch.compile``d networks (``extract_feat`` of mmpretrain
classifiers, whole timm models; the table adds the seconds of the first,
compiling, warm-up step), ``--compile both`` eager and compiled rows.
``--stl`` adds, for token models (``stl_mm.TokenLabelHead``), a full STL
student step (``STLClassifier``: a frozen teacher of the same architecture,
random weights, labels the unmixed teacher view with Gumbel token labels
that are then mixed like the student view) and reports the teacher's
overhead over the plain training step of the same model. The teacher runs
as the STL configs set it up (``amp='auto'``: fp16 autocast on GPUs, bf16
on CPUs with native bf16 support, else float32); ``--teacher-amp``
overrides that, and the table names the precision that actually ran and
the share of token labels (argmax) that equal those of a float32 teacher.

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

from stl_mm.apis.benchmark import AMP_CHOICES, format_table, run_benchmark
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
    parser.add_argument('--amp', nargs='+', choices=list(AMP_CHOICES),
                        default=['none'],
                        help='autocast dtype(s) of the training step and '
                        'inference (none = float32); one block of rows each')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels-last model and inputs')
    parser.add_argument('--compile', nargs='?', const='yes', default='no',
                        choices=['no', 'yes', 'both'],
                        help='torch.compile the networks (both: eager and '
                        'compiled rows)')
    parser.add_argument('--peers', nargs='+',
                        help='peer models, the first is the reference of '
                        'the ratios (default: timm:convnext_tiny '
                        'timm:deit_small_patch16_224 deit-small)')
    parser.add_argument('--device', default=None,
                        help='cpu or cuda (default: cuda if available)')
    parser.add_argument('--json', help='write the results to this file')
    args = parser.parse_args(argv)
    if min(args.iters, args.repeat) < 1 or args.warmup < 0:
        parser.error('--iters and --repeat must be >= 1, --warmup >= 0')
    if args.compile != 'no' and args.warmup < 1:
        parser.error('--compile needs --warmup >= 1 (the first step '
                     'compiles)')
    if args.device is not None and args.device.split(':')[0] not in (
            'cpu', 'cuda'):
        parser.error(f'--device must be cpu or cuda, got {args.device!r}')
    if args.cpu_time and (args.threads != 1 or args.device == 'cuda'):
        parser.error('--cpu-time needs --threads 1 and the CPU')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.device is None:
        import torch
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.cpu_time and args.device != 'cpu':
        raise SystemExit('error: --cpu-time needs --device cpu')
    if args.device.startswith('cuda'):
        import torch
        if not torch.cuda.is_available():
            raise SystemExit('error: --device cuda, but torch sees no GPU '
                             '(use --device cpu)')
    try:
        report = run_benchmark(args)
    except ValueError as error:
        raise SystemExit(f'error: {error}')
    results = report['results']
    print('\n' + format_table(results, args, report['threads'],
                               report['loads'], report['peaks']))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(batch_size=args.batch_size,
                           img_size=args.img_size, device=args.device,
                           torch_threads=report['threads'],
                           cpu_time=args.cpu_time, iters=args.iters,
                           repeat=args.repeat, load_average=report['loads'],
                           amp=args.amp, channels_last=args.channels_last,
                           compile=args.compile,
                           reference=report['reference'],
                           gemm_peak_gmac_s=report['peaks'],
                           results=results), f, indent=2)
    return 0


if __name__ == '__main__':
    with friendly_errors():
        sys.exit(main())
