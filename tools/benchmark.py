"""Measure training-step and inference throughput and peak memory.

    python tools/benchmark.py fan_small_12_p4_hybrid_token [MODEL ...]
        [--batch-size 16] [--img-size 224] [--iters 10] [--warmup 3]
        [--stl] [--device cpu|cuda] [--json FILE]

MODEL is an upstream FAN variant name or a classifier config file. Every run
also measures mmpretrain's DeiT-Small (``VisionTransformer``, arch
``deit-small``) as the peer and reports each model's throughput relative to
it. ``--stl`` adds, for token models, a full STL student step (frozen
teacher of the same architecture producing Gumbel token labels) next to the
plain student step, and reports the teacher's overhead.

Each model is measured in its own subprocess so that peak memory (max RSS on
CPU, ``torch.cuda.max_memory_allocated`` on GPU) is its own.
"""
import argparse
import json
import os
import subprocess
import sys
import time

PEER = 'deit-small'


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('models', nargs='+', help='variant names or configs')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--stl', action='store_true',
                        help='also time the STL step (teacher + student)')
    parser.add_argument('--device', default=None,
                        help='cpu or cuda (default: cuda if available)')
    parser.add_argument('--json', help='write the results to this file')
    parser.add_argument('--_worker', nargs=2, metavar=('MODEL', 'KIND'),
                        help=argparse.SUPPRESS)
    return parser.parse_args()


def _build(name: str, img_size: int, device: str):
    """Return an mmpretrain classifier for a variant/config or the peer."""
    import torch  # noqa: F401
    from mmengine.registry import DefaultScope

    from stl_mm.registry import MODELS
    from stl_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    if name == PEER:
        cfg = dict(
            type='ImageClassifier',
            backbone=dict(type='VisionTransformer', arch='deit-small',
                          img_size=img_size, patch_size=16),
            neck=None,
            head=dict(type='VisionTransformerClsHead', num_classes=1000,
                      in_channels=384,
                      loss=dict(type='CrossEntropyLoss', use_soft=True)))
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            return MODELS.build(cfg).to(device)
    from stl_mm.apis import init_model
    return init_model(name, device=device).train()


def _batch(model, batch_size, img_size, device, num_classes=1000):
    import torch
    from mmpretrain.structures import DataSample
    inputs = torch.randn(batch_size, 3, img_size, img_size, device=device)
    targets = torch.softmax(
        torch.randn(batch_size, num_classes, device=device), -1)
    samples = [DataSample().set_gt_score(t) for t in targets]
    return inputs, samples


def _time(fn, iters, warmup, device):
    import torch
    for _ in range(warmup):
        fn()
    if device == 'cuda':
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    if device == 'cuda':
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters


def _peak_mem_mb(device):
    import resource

    import torch
    if device == 'cuda':
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(args, name, kind):
    """Measure one model; print a JSON line with its numbers."""
    import torch
    from mmengine.optim import OptimWrapper
    device = args.device
    torch.manual_seed(0)
    model = _build(name, args.img_size, device)
    inputs, samples = _batch(model, args.batch_size, args.img_size, device)
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-4))
    result = {}
    if kind in ('train', 'stl'):
        if kind == 'stl':
            from stl_mm.models.classifiers import STLClassifier
            model = STLClassifier.for_benchmark(model)  # teacher = same arch
            optim = OptimWrapper(
                torch.optim.AdamW(model.parameters(), lr=1e-4))

        def step():
            losses = model.loss(inputs, samples)
            loss = sum(v for k, v in losses.items() if 'loss' in k)
            optim.update_params(loss)

        model.train()
        seconds = _time(step, args.iters, args.warmup, device)
        result[f'{kind}_img_s'] = args.batch_size / seconds
    else:
        model.eval()

        @torch.no_grad()
        def infer():
            model(inputs, mode='tensor')

        seconds = _time(infer, args.iters, args.warmup, device)
        result['infer_img_s'] = args.batch_size / seconds
    result['peak_mem_mb'] = _peak_mem_mb(device)
    print('RESULT ' + json.dumps(result))


def run_worker(args, name, kind):
    cmd = [sys.executable, os.path.abspath(__file__), name,
           '--batch-size', str(args.batch_size), '--img-size',
           str(args.img_size), '--iters', str(args.iters), '--warmup',
           str(args.warmup), '--device', args.device, '--_worker', name, kind]
    out = subprocess.run(cmd, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith('RESULT '):
            return json.loads(line[len('RESULT '):])
    raise RuntimeError(f'benchmark of {name} ({kind}) failed:\n'
                       f'{out.stderr[-3000:]}')


def main():
    args = parse_args()
    if args.device is None:
        import torch
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args._worker:
        return worker(args, *args._worker)
    names = [PEER] + [m for m in args.models if m != PEER]
    results = {}
    for name in names:
        train = run_worker(args, name, 'train')
        infer = run_worker(args, name, 'infer')
        results[name] = dict(
            train_img_s=train['train_img_s'],
            infer_img_s=infer['infer_img_s'],
            peak_mem_mb=max(train['peak_mem_mb'], infer['peak_mem_mb']))
        if args.stl and name != PEER:
            stl = run_worker(args, name, 'stl')
            results[name]['stl_train_img_s'] = stl['stl_img_s']
            results[name]['stl_teacher_overhead'] = (
                train['train_img_s'] / stl['stl_img_s'] - 1.0)
    peer = results[PEER]
    print(f'\nbatch {args.batch_size}, {args.img_size}x{args.img_size}, '
          f'{args.device}, torch threads: {_threads()}')
    header = (f'{"model":34s} {"train img/s":>11s} {"x peer":>7s} '
              f'{"infer img/s":>11s} {"x peer":>7s} {"peak MB":>9s}')
    if args.stl:
        header += f' {"STL img/s":>10s} {"teacher +%":>10s}'
    print(header)
    for name, r in results.items():
        line = (f'{name:34s} {r["train_img_s"]:11.2f} '
                f'{r["train_img_s"] / peer["train_img_s"]:7.2f} '
                f'{r["infer_img_s"]:11.2f} '
                f'{r["infer_img_s"] / peer["infer_img_s"]:7.2f} '
                f'{r["peak_mem_mb"]:9.0f}')
        if 'stl_train_img_s' in r:
            line += (f' {r["stl_train_img_s"]:10.2f} '
                     f'{100 * r["stl_teacher_overhead"]:10.1f}')
        print(line)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)


def _threads():
    import torch
    return torch.get_num_threads()


if __name__ == '__main__':
    main()
