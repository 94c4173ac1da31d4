"""Throughput and peak-memory measurement of classifiers (and the STL
teacher's overhead); ``tools/benchmark.py`` is its command line, where the
method is described (docs/benchmark.md has the numbers).

Each measurement runs in its own ``python -m stl_mm.apis.benchmark``
process, so that its peak memory is its own.
"""
import json
import os
import statistics
import subprocess
import sys
import time
import types
import warnings

__all__ = ['PEER', 'run_benchmark', 'format_table', 'summarise', 'worker']

PEER = 'deit-small'
_NO_TEACHER_WARNING = 'STLClassifier: no teacher checkpoint given'


# --------------------------------------------------------------------------
# building models and batches (worker side)
# --------------------------------------------------------------------------
def _load_cfg(name: str):
    from stl_mm.apis.config import UnknownModelError, load_model_config
    try:
        return load_model_config(name)
    except UnknownModelError as error:
        raise ValueError(
            f'{name!r} is neither a FAN variant name nor a config file; '
            f'variants: {", ".join(error.choices)}') from None


def _build(name: str, img_size: int, device: str):
    """Return an mmpretrain classifier for a variant/config or the peer."""
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
    model = init_model(name, device=device).train()
    from stl_mm.models.classifiers import TokenLabelClassifier
    if isinstance(model, TokenLabelClassifier):
        # offline-map configs: the plain step is the same network on image
        # labels only
        from mmpretrain.models import ImageClassifier
        model = ImageClassifier(
            backbone=model.backbone, head=model.head,
            data_preprocessor=model.data_preprocessor).to(device).train()
    if _is_token_model(model) and model.head.mode == 'student':
        # An STL student config: its plain step (no teacher, no token
        # targets) is the same network trained on image labels only.
        model.head.mode = 'labeler'
    return model


def _is_token_model(model) -> bool:
    from stl_mm.models.heads import TokenLabelHead
    return isinstance(getattr(model, 'head', None), TokenLabelHead)


def _build_stl(name: str, device: str, teacher_amp: str = None):
    """The STL student of a token model, with a random frozen teacher of the
    same architecture (timing only: the teacher's weights do not change its
    cost)."""
    from mmengine.registry import DefaultScope

    from stl_mm.registry import MODELS
    from stl_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    from stl_mm.apis.config import stl_student_model_cfg
    cfg = _load_cfg(name)
    model_cfg = stl_student_model_cfg(cfg, teacher_checkpoint=None,
                                      teacher_amp=teacher_amp or 'config')
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message=_NO_TEACHER_WARNING)
        with DefaultScope.overwrite_default_scope(
                cfg.get('default_scope', 'mmpretrain')):
            model = MODELS.build(model_cfg)
    return model.to(device).train()


def _batch(batch_size, img_size, device, num_classes=1000):
    """Random images and soft targets, as after a data preprocessor."""
    import torch
    from mmpretrain.structures import DataSample
    inputs = torch.randn(batch_size, 3, img_size, img_size, device=device)
    targets = torch.softmax(
        torch.randn(batch_size, num_classes, device=device), -1)
    samples = [DataSample().set_gt_score(t) for t in targets]
    return inputs, samples


def _stl_batch(model, batch_size, img_size, num_classes=1000):
    """An STL training batch made by the model's own data preprocessor:
    normalised student view mixed, normalised unmixed teacher view, and the
    batch's mix record: ``(inputs, samples, teacher_inputs, mix)``."""
    import torch
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(0)
    shape = (batch_size, 3, img_size, img_size)
    images = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    teacher = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    samples = []
    for i in range(batch_size):
        sample = DataSample().set_gt_label(i % num_classes)
        sample.set_field(teacher[i], 'teacher_img')
        samples.append(sample)
    data = model.data_preprocessor(
        dict(inputs=list(images), data_samples=samples), training=True)
    return (data['inputs'], data['data_samples'], data['teacher_inputs'],
            data.get('mix'))


def _offline_step_inputs(stl, samples, map_size=14, topk=5):
    """The offline-maps twin of an STL student (``TokenLabelClassifier``:
    the same backbone and head, token targets ROI-aligned from precomputed
    label maps; MixToken for LV-ViT, the preprocessor's mix record
    otherwise) and its samples: random ``[2, k, 14, 14]`` maps (a 224px
    dump) and crop boxes."""
    import copy

    import numpy as np
    import torch

    from stl_mm.models.classifiers import TokenLabelClassifier
    lvvit = getattr(stl.backbone, 'supports_mix_token', False)
    model = TokenLabelClassifier(
        backbone=copy.deepcopy(stl.backbone), head=copy.deepcopy(stl.head),
        mix_token=dict(alpha=1.0) if lvvit else None).to(
            next(stl.parameters()).device).train()
    g = torch.Generator().manual_seed(1)
    K = stl.head.num_classes
    offline = []
    for sample in samples:
        sample = copy.deepcopy(sample)
        scores = torch.randn(topk, map_size, map_size, generator=g)
        index = torch.randint(0, K, (topk, map_size, map_size), generator=g)
        sample.set_field(torch.stack([scores.sort(0, True).values,
                                      index.float()]).half(),
                         'token_label_map')
        sample.set_field(np.array([.1, .2, .9, .8, 1., 0.], np.float32),
                         'token_label_coords')
        offline.append(sample)
    return model, offline


# --------------------------------------------------------------------------
# timing (worker side)
# --------------------------------------------------------------------------
def _sync(device):
    import torch
    if device == 'cuda':
        torch.cuda.synchronize()


def _time(fns, iters, warmup, device, cpu_time=False):
    """Median seconds per call of every function in ``fns``, calling them
    in turns (one iteration of each, then the next round). ``cpu_time``:
    CPU seconds of the calling thread (with one torch thread it does all
    the work) instead of wall-clock seconds."""
    clock = time.thread_time if cpu_time else time.perf_counter
    for _ in range(warmup):
        for fn in fns:
            fn()
    _sync(device)
    times = [[] for _ in fns]
    for _ in range(iters):
        for fn, record in zip(fns, times):
            start = clock()
            fn()
            _sync(device)
            record.append(clock() - start)
    return [statistics.median(record) for record in times]


def _peak_mem_mb(device):
    import resource

    import torch
    if device == 'cuda':
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _train_step(model, inputs, samples, **kwargs):
    import torch
    from mmengine.optim import OptimWrapper
    optim = OptimWrapper(torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-4))

    def step():
        losses = model.loss(inputs, samples, **kwargs)
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        optim.update_params(loss)

    return step


def worker(args, name, kind):
    """Measure one model; print a JSON line with its numbers."""
    import torch
    device = args.device
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = _build(name, args.img_size, device)
    num_classes = getattr(model.head, 'num_classes', 1000)
    inputs, samples = _batch(args.batch_size, args.img_size, device,
                             num_classes)
    result = {}
    if kind == 'train':
        model.train()
        (seconds, ) = _time([_train_step(model, inputs, samples)],
                            args.iters, args.warmup, device, args.cpu_time)
        result['train_img_s'] = args.batch_size / seconds
    elif kind == 'stl':
        if not _is_token_model(model):
            raise ValueError(f'{name} has no token head: no STL step')
        stl = _build_stl(name, device, args.teacher_amp)
        stl_inputs, stl_samples, teacher_inputs, mix = _stl_batch(
            stl, args.batch_size, args.img_size, num_classes)
        stl_inputs = stl_inputs.to(device)
        teacher_inputs = teacher_inputs.to(device)
        offline, offline_samples = _offline_step_inputs(stl, stl_samples)
        # MixToken (LV-ViT) mixes inside the model instead
        offline_mix = None if offline.mix_token_cfg else mix
        model.train()
        plain, full, maps = _time([
            _train_step(model, inputs, samples),
            _train_step(stl, stl_inputs, stl_samples,
                        teacher_inputs=teacher_inputs, mix=mix),
            _train_step(offline, stl_inputs, offline_samples,
                        mix=offline_mix),
        ], args.iters, args.warmup, device, args.cpu_time)
        result['plain_img_s'] = args.batch_size / plain
        result['stl_img_s'] = args.batch_size / full
        result['stl_teacher_overhead'] = full / plain - 1.
        result['offline_img_s'] = args.batch_size / maps
        result['offline_maps_overhead'] = maps / plain - 1.
        from stl_mm.models.classifiers.stl_classifier import \
            teacher_autocast_dtype
        dtype = teacher_autocast_dtype(stl.teacher.amp_dtype, device)
        result['teacher_precision'] = str(dtype or torch.float32).replace(
            'torch.', '')
    else:
        model.eval()

        @torch.no_grad()
        def infer():
            model(inputs, mode='tensor')

        (seconds, ) = _time([infer], args.iters, args.warmup, device,
                            args.cpu_time)
        result['infer_img_s'] = args.batch_size / seconds
    result['peak_mem_mb'] = _peak_mem_mb(device)
    result['torch_threads'] = torch.get_num_threads()
    print('RESULT ' + json.dumps(result))


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------
#: the settings a worker needs
WORKER_SETTINGS = ('batch_size', 'img_size', 'iters', 'warmup', 'device',
                   'threads', 'teacher_amp', 'cpu_time')


def run_worker(args, name, kind):
    """Measure (name, kind) in a fresh ``python -m stl_mm.apis.benchmark``
    process (its own peak memory); returns its numbers."""
    settings = json.dumps({k: getattr(args, k) for k in WORKER_SETTINGS})
    cmd = [sys.executable, '-m', 'stl_mm.apis.benchmark', settings, name,
           kind]
    out = subprocess.run(cmd, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith('RESULT '):
            return json.loads(line[len('RESULT '):])
    raise RuntimeError(f'benchmark of {name} ({kind}) failed:\n'
                       f'{out.stderr[-3000:]}')


def _kinds(args, name):
    kinds = ['train', 'infer']
    if args.stl and name != PEER:
        kinds.append('stl')
    return kinds


def _best(runs, key):
    return max(run[key] for run in runs)


def summarise(runs_by_model):
    """Per model: best repeat of every throughput, peak memory over all
    runs, median STL overhead."""
    results = {}
    for name, runs in runs_by_model.items():
        r = dict(train_img_s=_best(runs['train'], 'train_img_s'),
                 infer_img_s=_best(runs['infer'], 'infer_img_s'),
                 peak_mem_mb=max(run['peak_mem_mb'] for run in
                                 runs['train'] + runs['infer']))
        if runs.get('stl'):
            # a ratio of two load-matched medians per repeat: the median
            # over repeats (the best one would be biased low)
            r.update(stl_train_img_s=_best(runs['stl'], 'stl_img_s'),
                     stl_teacher_overhead=statistics.median(
                         run['stl_teacher_overhead'] for run in runs['stl']),
                     offline_train_img_s=_best(runs['stl'], 'offline_img_s'),
                     offline_maps_overhead=statistics.median(
                         run['offline_maps_overhead']
                         for run in runs['stl']),
                     teacher_precision=runs['stl'][0].get(
                         'teacher_precision'))
        r['runs'] = runs
        results[name] = r
    return results


def _teacher_precisions(results) -> str:
    """' (ran in bfloat16)' from the STL workers' reports."""
    ran = sorted({r['teacher_precision'] for r in results.values()
                  if r.get('teacher_precision')})
    return f' (ran in {", ".join(ran)})' if ran else ''


def format_table(results, args, threads, loads):
    peer = results[PEER]
    lines = [f'batch {args.batch_size}, {args.img_size}x{args.img_size}, '
             f'{args.device}, torch threads: {threads}, best of '
             f'{args.repeat} repeat(s) x median of {args.iters} iterations'
             + (' (CPU time)' if args.cpu_time else '')
             + (f', STL teacher amp: {args.teacher_amp or "as configured"}'
                + _teacher_precisions(results) if args.stl else ''),
             'load average (1 min) before/after: '
             f'{loads[0]:.2f} / {loads[1]:.2f} on {os.cpu_count()} CPUs']
    header = (f'{"model":34s} {"train img/s":>11s} {"x peer":>7s} '
              f'{"infer img/s":>11s} {"x peer":>7s} {"peak MB":>9s}')
    if args.stl:
        header += (f' {"STL img/s":>10s} {"teacher +%":>10s}'
                   f' {"maps img/s":>10s} {"maps +%":>8s}')
    lines.append(header)
    for name, r in results.items():
        line = (f'{name:34s} {r["train_img_s"]:11.2f} '
                f'{r["train_img_s"] / peer["train_img_s"]:7.2f} '
                f'{r["infer_img_s"]:11.2f} '
                f'{r["infer_img_s"] / peer["infer_img_s"]:7.2f} '
                f'{r["peak_mem_mb"]:9.0f}')
        if 'stl_train_img_s' in r:
            line += (f' {r["stl_train_img_s"]:10.2f} '
                     f'{100 * r["stl_teacher_overhead"]:10.1f}'
                     f' {r["offline_train_img_s"]:10.2f} '
                     f'{100 * r["offline_maps_overhead"]:8.1f}')
        elif args.stl:
            line += f' {"-":>10s} {"-":>10s} {"-":>10s} {"-":>8s}'
        lines.append(line)
    return '\n'.join(lines)


def run_benchmark(args) -> dict:
    """Measure the peer and ``args.models`` (the options of
    ``tools/benchmark.py``), round-robin ``args.repeat`` times.

    Returns ``dict(results=summarise(...), threads=..., loads=[before,
    after])``.

    Raises:
        ValueError: a model is neither a variant name nor a config file
            (raised before any worker starts).
    """
    names = [PEER] + [m for m in args.models if m != PEER]
    for name in names[1:]:  # fail before any worker starts
        _load_cfg(name)
    loads = [os.getloadavg()[0]]
    if loads[0] > 0.5:
        print(f'note: load average {loads[0]:.2f} before the run; other '
              'processes share the CPUs and slow both models down',
              file=sys.stderr)
    runs = {name: {} for name in names}
    threads = None
    for _ in range(args.repeat):
        for name in names:
            for kind in _kinds(args, name):
                if kind == 'stl':
                    try:
                        result = run_worker(args, name, kind)
                    except RuntimeError as error:
                        if 'no token head' not in str(error):
                            raise
                        continue
                else:
                    result = run_worker(args, name, kind)
                threads = result['torch_threads']
                runs[name].setdefault(kind, []).append(result)
    loads.append(os.getloadavg()[0])
    return dict(results=summarise(runs), threads=threads, loads=loads)


if __name__ == '__main__':  # a worker: SETTINGS_JSON MODEL KIND
    worker(types.SimpleNamespace(**json.loads(sys.argv[1])), sys.argv[2],
           sys.argv[3])
