"""Throughput, FLOP efficiency and peak memory of classifiers against the
strongest peers (timm ConvNeXt / DeiT, mmpretrain DeiT), and the STL
teacher's overhead; ``tools/benchmark.py`` is its command line, where the
method is described (docs/benchmark.md has the numbers).

Each measurement runs in its own ``python -m stl_mm.apis.benchmark``
process, so that its peak memory is its own.

Model names: an upstream FAN variant name or a classifier config file,
``deit-small`` (mmpretrain's ``VisionTransformer``) or ``timm:<name>`` (a
model of the timm library, e.g. ``timm:convnext_tiny``).
"""
import json
import os
import statistics
import subprocess
import sys
import time
import types
import warnings
from contextlib import nullcontext

__all__ = ['PEER', 'TIMM_PEERS', 'AMP_CHOICES', 'default_peers',
           'run_benchmark', 'format_table', 'summarise', 'worker',
           'gemm_peak']

#: mmpretrain's DeiT-Small (kept as a peer since the first benchmark)
PEER = 'deit-small'
#: the strongest peers, when timm is installed (``bench`` requirements);
#: the first one is the reference of the ratios
TIMM_PEERS = ('timm:convnext_tiny', 'timm:deit_small_patch16_224')
TIMM_PREFIX = 'timm:'
#: ``--amp`` choices -> autocast dtype name (``none``: float32)
AMP_CHOICES = {'none': None, 'bf16': 'bfloat16', 'fp16': 'float16'}
_NO_TEACHER_WARNING = 'STLClassifier: no teacher checkpoint given'
#: MACs of a training step per image, in forward passes: the backward pass
#: costs about two forwards (gradients of the inputs and of the weights)
TRAIN_MACS_FACTOR = 3


def default_peers():
    """timm's ConvNeXt-T and DeiT-S (when timm imports) and mmpretrain's
    DeiT-S; the first one is the reference of the ratios."""
    try:
        import timm  # noqa: F401
    except ImportError:
        return [PEER]
    return [*TIMM_PEERS, PEER]


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
            f'variants: {", ".join(error.choices)}; peers: {PEER}, '
            f'{TIMM_PREFIX}<timm model name>') from None


def check_model_name(name: str) -> None:
    """Raise ``ValueError`` (one line, the fix) for a name no worker can
    build."""
    if name == PEER:
        return
    if name.startswith(TIMM_PREFIX):
        try:
            import timm
        except ImportError:
            raise ValueError(
                f'{name} needs timm: pip install -r requirements/bench.txt'
            ) from None
        if not timm.is_model(name[len(TIMM_PREFIX):]):
            raise ValueError(f'{name}: timm has no model '
                             f'{name[len(TIMM_PREFIX):]!r}')
        return
    _load_cfg(name)


def _build_timm(name: str, img_size: int):
    import timm
    arch = name[len(TIMM_PREFIX):]
    try:  # ViTs take the input size; convolutional networks do not need it
        return timm.create_model(arch, num_classes=1000, img_size=img_size)
    except TypeError:
        return timm.create_model(arch, num_classes=1000)


def _build(name: str, img_size: int):
    """An mmpretrain classifier for a variant/config or mmpretrain's DeiT-S,
    or a timm model, on the CPU."""
    from mmengine.registry import DefaultScope

    from stl_mm.registry import MODELS
    from stl_mm.utils import register_all_modules
    if name.startswith(TIMM_PREFIX):
        return _build_timm(name, img_size).train()
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
            return MODELS.build(cfg)
    from stl_mm.apis import init_model
    model = init_model(name, device='cpu').train()
    from stl_mm.models.classifiers import TokenLabelClassifier
    if isinstance(model, TokenLabelClassifier):
        # offline-map configs: the plain step is the same network on image
        # labels only
        from mmpretrain.models import ImageClassifier
        model = ImageClassifier(
            backbone=model.backbone, head=model.head,
            data_preprocessor=model.data_preprocessor).train()
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


def _batch(batch_size, img_size, device, num_classes=1000,
           channels_last=False):
    """Random images and soft targets, as after a data preprocessor:
    ``(inputs, samples, targets (B, K))``."""
    import torch
    from mmpretrain.structures import DataSample
    inputs = torch.randn(batch_size, 3, img_size, img_size, device=device)
    if channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    targets = torch.softmax(
        torch.randn(batch_size, num_classes, device=device), -1)
    samples = [DataSample().set_gt_score(t) for t in targets]
    return inputs, samples, targets


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
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def _clock(cpu_time):
    return time.thread_time if cpu_time else time.perf_counter


def _time(fns, iters, warmup, device, cpu_time=False):
    """Median seconds per call of every function in ``fns``, calling them
    in turns (one iteration of each, then the next round), and the seconds
    of the first warm-up round (with ``torch.compile``: the compilation).
    ``cpu_time``: CPU seconds of the calling thread (with one torch thread
    it does all the work) instead of wall-clock seconds."""
    clock = _clock(cpu_time)
    first = time.perf_counter()
    for i in range(warmup):
        for fn in fns:
            fn()
        if i == 0:
            _sync(device)
            first = time.perf_counter() - first
    _sync(device)
    times = [[] for _ in fns]
    for _ in range(iters):
        for fn, record in zip(fns, times):
            start = clock()
            fn()
            _sync(device)
            record.append(clock() - start)
    return [statistics.median(record) for record in times], (
        first if warmup else None)


def _peak_mem_mb(device):
    import resource

    import torch
    if str(device).startswith('cuda'):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _autocast(device, amp):
    """The autocast context of ``--amp`` on ``device`` (float32: none)."""
    import torch
    dtype = AMP_CHOICES[amp or 'none']
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=str(device).split(':')[0],
                          dtype=getattr(torch, dtype))


def gemm_peak(device, amp=None, cpu_time=False, iters=3):
    """GMAC/s of a large matrix product (``F.linear``, as ``nn.Linear``
    runs it) under the autocast of ``amp``: the yardstick of the models'
    achieved GMAC/s. CPU: ``4096x1024 @ 1024x1024`` (a ViT-S MLP layer of
    about 21 images); CUDA: ``8192^3``."""
    import torch
    import torch.nn.functional as F
    cuda = str(device).startswith('cuda')
    M, K, N = (8192, 8192, 8192) if cuda else (4096, 1024, 1024)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(M, K, generator=g).to(device)
    w = torch.randn(N, K, generator=g).to(device)

    def probe():
        with torch.no_grad(), _autocast(device, amp):
            F.linear(a, w)

    (seconds, ), _ = _time([probe], iters, 1, device, cpu_time)
    return M * K * N / seconds / 1e9


def _params(model):
    return [p for p in model.parameters() if p.requires_grad]


def _train_step(model, loss_fn, device, amp):
    """One training step of ``loss_fn()`` (forward and loss under the
    autocast of ``amp``), backward, AdamW step. fp16 on CUDA scales the loss
    (``torch.amp.GradScaler``), as mmengine's ``AmpOptimWrapper`` does; the
    step is written out so that its autocast names the benchmark's device
    (the optim wrappers ask mmengine, which prefers CUDA whenever there is
    one)."""
    import torch
    optim = torch.optim.AdamW(_params(model), lr=1e-4)
    scaler = None
    if amp == 'fp16' and str(device).startswith('cuda'):
        scaler = torch.amp.GradScaler('cuda')

    def step():
        with _autocast(device, amp):
            losses = loss_fn()
            loss = sum(v for k, v in losses.items() if 'loss' in k)
        if scaler is None:
            loss.backward()
            optim.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optim)
            scaler.update()
        optim.zero_grad(set_to_none=True)

    return step


def _maybe_compile(model, enabled):
    """``torch.compile`` the network's forward: ``extract_feat`` of an
    mmpretrain classifier (what its ``loss``/``predict``/``tensor`` modes
    call; the head and loss stay eager: they take data samples), the whole
    module of a timm model."""
    if not enabled:
        return model
    import torch
    if hasattr(model, 'extract_feat'):
        model.extract_feat = torch.compile(model.extract_feat)
        return model
    return torch.compile(model)


def _loss_fn(model, inputs, samples, targets, timm_model):
    if timm_model:
        import torch

        def loss():  # soft-target cross-entropy, as the mmpretrain heads
            logits = model(inputs)
            return dict(loss=torch.sum(
                -targets * logits.float().log_softmax(-1), -1).mean())

        return loss
    return lambda: model.loss(inputs, samples)


def _teacher_agreement(stl, teacher_inputs):
    """Share of tokens whose argmax label is the same under the teacher's
    autocast and in float32 (random weights: the logits are close to each
    other, a harder case than trained weights)."""
    from stl_mm.models.classifiers.stl_classifier import FrozenTeacher
    ref = FrozenTeacher(stl.teacher.model, amp_dtype=None)(teacher_inputs)
    out = stl.teacher(teacher_inputs)
    return (out.argmax(-1) == ref.argmax(-1)).float().mean().item()


def worker(args, name, kind):
    """Measure one model (or the GEMM peak, ``kind='peak'``); print a JSON
    line with its numbers."""
    import torch
    device = args.device
    if args.threads:
        torch.set_num_threads(args.threads)
    if str(device).startswith('cuda'):
        torch.backends.cudnn.benchmark = True
    amp = getattr(args, 'amp', None) or 'none'
    result = {}
    if kind == 'peak':
        result['gemm_gmac_s'] = gemm_peak(device, amp, args.cpu_time)
        result['torch_threads'] = torch.get_num_threads()
        print('RESULT ' + json.dumps(result))
        return
    torch.manual_seed(0)
    timm_model = name.startswith(TIMM_PREFIX)
    model = _build(name, args.img_size)
    if getattr(args, 'count_macs', False):
        from stl_mm.apis.complexity import model_complexity
        result['gmacs'] = model_complexity(
            model, (args.img_size, args.img_size))['macs'] / 1e9
        result['params_m'] = sum(p.numel()
                                 for p in model.parameters()) / 1e6
    channels_last = getattr(args, 'channels_last', False)
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    num_classes = getattr(getattr(model, 'head', None), 'num_classes', 1000)
    inputs, samples, targets = _batch(args.batch_size, args.img_size, device,
                                      num_classes, channels_last)
    compiled = getattr(args, 'compile', False)
    if kind == 'train':
        model.train()
        net = _maybe_compile(model, compiled)
        (seconds, ), first = _time(
            [_train_step(net, _loss_fn(net, inputs, samples, targets,
                                       timm_model), device, amp)],
            args.iters, args.warmup, device, args.cpu_time)
        result['train_img_s'] = args.batch_size / seconds
        result['train_first_s'] = first
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
        (plain, full, maps), _ = _time([
            _train_step(model, _loss_fn(model, inputs, samples, targets,
                                        False), device, amp),
            _train_step(stl, lambda: stl.loss(
                stl_inputs, stl_samples, teacher_inputs=teacher_inputs,
                mix=mix), device, amp),
            _train_step(offline, lambda: offline.loss(
                stl_inputs, offline_samples, mix=offline_mix), device, amp),
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
        result['teacher_argmax_agreement'] = _teacher_agreement(
            stl, teacher_inputs)
    else:
        model.eval()
        net = _maybe_compile(model, compiled)

        @torch.no_grad()
        def infer():
            with _autocast(device, amp):
                if timm_model:
                    net(inputs)
                else:
                    net(inputs, mode='tensor')

        (seconds, ), first = _time([infer], args.iters, args.warmup, device,
                                   args.cpu_time)
        result['infer_img_s'] = args.batch_size / seconds
        result['infer_first_s'] = first
    result['peak_mem_mb'] = _peak_mem_mb(device)
    result['torch_threads'] = torch.get_num_threads()
    print('RESULT ' + json.dumps(result))


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------
#: the settings a worker needs
WORKER_SETTINGS = ('batch_size', 'img_size', 'iters', 'warmup', 'device',
                   'threads', 'teacher_amp', 'cpu_time', 'channels_last')


def run_worker(args, name, kind, **settings):
    """Measure (name, kind) in a fresh ``python -m stl_mm.apis.benchmark``
    process (its own peak memory); ``settings`` (``amp``, ``compile``,
    ``count_macs``) complete the options. Returns its numbers."""
    settings = json.dumps(dict(
        {k: getattr(args, k, None) for k in WORKER_SETTINGS}, **settings))
    cmd = [sys.executable, '-m', 'stl_mm.apis.benchmark', settings, name,
           kind]
    out = subprocess.run(cmd, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith('RESULT '):
            return json.loads(line[len('RESULT '):])
    raise RuntimeError(f'benchmark of {name} ({kind}) failed:\n'
                       f'{out.stderr[-3000:]}')


def _best(runs, key):
    return max(run[key] for run in runs)


def _row_key(name, amp, compiled):
    return f'{name}|{amp}|{"compiled" if compiled else "eager"}'


def summarise(runs_by_row):
    """Per (model, amp, compile) row: best repeat of every throughput, peak
    memory over all runs, median STL overhead; GMAC/s from the model's
    MACs."""
    results = {}
    for key, runs in runs_by_row.items():
        name, amp, mode = key.split('|')
        r = dict(model=name, amp=amp, compiled=mode == 'compiled',
                 train_img_s=_best(runs['train'], 'train_img_s'),
                 infer_img_s=_best(runs['infer'], 'infer_img_s'),
                 peak_mem_mb=max(run['peak_mem_mb'] for run in
                                 runs['train'] + runs['infer']))
        macs = [run['gmacs'] for run in runs['infer'] if 'gmacs' in run]
        if macs:
            r['gmacs'] = macs[0]
            r['params_m'] = runs['infer'][0]['params_m']
            r['train_gmac_s'] = TRAIN_MACS_FACTOR * r['gmacs'] * r[
                'train_img_s']
            r['infer_gmac_s'] = r['gmacs'] * r['infer_img_s']
        firsts = [run.get('train_first_s') for run in runs['train']]
        if r['compiled'] and firsts[0] is not None:
            r['compile_s'] = min(firsts)
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
                         'teacher_precision'),
                     teacher_argmax_agreement=min(
                         run['teacher_argmax_agreement']
                         for run in runs['stl']))
        r['runs'] = runs
        results[key] = r
    return results


def _teacher_precisions(results) -> str:
    """' (ran in bfloat16)' from the STL workers' reports."""
    ran = sorted({r['teacher_precision'] for r in results.values()
                  if r.get('teacher_precision')})
    return f' (ran in {", ".join(ran)})' if ran else ''


def _fmt(value, spec, width):
    return f'{value:{width}{spec}}' if value is not None else f'{"-":>{width}s}'


def _ratio(r, ref, key):
    if ref is None or not ref.get(key):
        return None
    return r[key] / ref[key]


def _pct(r, key, peak):
    return 100 * r[key] / peak if peak and key in r else None


def format_table(results, args, threads, loads, peaks=None):
    """The report: a header (settings, load, GEMM peaks) and one line per
    (model, amp, compile) row; ratios to the reference model (the first
    peer) of the same amp and compile mode."""
    peaks = peaks or {}
    reference = getattr(args, 'reference', None) or PEER
    lines = [f'batch {args.batch_size}, {args.img_size}x{args.img_size}, '
             f'{args.device}, torch threads: {threads}, best of '
             f'{args.repeat} repeat(s) x median of {args.iters} iterations'
             + (' (CPU time)' if args.cpu_time else '')
             + (', channels-last' if getattr(args, 'channels_last', False)
                else '')
             + (f', STL teacher amp: {args.teacher_amp or "as configured"}'
                + _teacher_precisions(results) if args.stl else ''),
             'load average (1 min) before/after: '
             f'{loads[0]:.2f} / {loads[1]:.2f} on {os.cpu_count()} CPUs']
    if peaks:
        lines.append('GEMM peak (F.linear probe), GMAC/s: ' + ', '.join(
            f'{amp} {value:.1f}' for amp, value in peaks.items()))
    lines.append(f'x ref: ratio to {reference} (same amp and mode); '
                 f'GMAC/s: GMACs x img/s (training: x{TRAIN_MACS_FACTOR}); '
                 '% pk: of the GEMM peak of the same amp')
    width = max([len(r['model']) for r in results.values()] + [5])
    header = (f'{"model":{width}s} {"amp":4s} {"mode":8s} {"GMACs":>6s} '
              f'{"train img/s":>11s} {"x ref":>6s} {"GMAC/s":>7s} '
              f'{"% pk":>5s} {"infer img/s":>11s} {"x ref":>6s} '
              f'{"GMAC/s":>7s} {"% pk":>5s} {"peak MB":>8s}')
    if any(r.get('compiled') for r in results.values()):
        header += f' {"compile s":>9s}'
    if args.stl:
        header += (f' {"STL img/s":>10s} {"teacher +%":>10s}'
                   f' {"agree %":>7s} {"maps img/s":>10s} {"maps +%":>8s}')
    lines.append(header)
    for key, r in results.items():
        ref = results.get(_row_key(reference, r['amp'],
                                   r.get('compiled', False)))
        peak = peaks.get(r['amp'])
        line = (f'{r["model"]:{width}s} {r["amp"]:4s} '
                f'{"compiled" if r.get("compiled") else "eager":8s} '
                f'{_fmt(r.get("gmacs"), ".2f", 6)} '
                f'{r["train_img_s"]:11.2f} '
                f'{_fmt(_ratio(r, ref, "train_img_s"), ".2f", 6)} '
                f'{_fmt(r.get("train_gmac_s"), ".1f", 7)} '
                f'{_fmt(_pct(r, "train_gmac_s", peak), ".0f", 5)} '
                f'{r["infer_img_s"]:11.2f} '
                f'{_fmt(_ratio(r, ref, "infer_img_s"), ".2f", 6)} '
                f'{_fmt(r.get("infer_gmac_s"), ".1f", 7)} '
                f'{_fmt(_pct(r, "infer_gmac_s", peak), ".0f", 5)} '
                f'{r["peak_mem_mb"]:8.0f}')
        if any(x.get('compiled') for x in results.values()):
            line += f' {_fmt(r.get("compile_s"), ".0f", 9)}'
        if 'stl_train_img_s' in r:
            line += (f' {r["stl_train_img_s"]:10.2f} '
                     f'{100 * r["stl_teacher_overhead"]:10.1f} '
                     f'{100 * r["teacher_argmax_agreement"]:7.1f}'
                     f' {r["offline_train_img_s"]:10.2f} '
                     f'{100 * r["offline_maps_overhead"]:8.1f}')
        elif args.stl:
            line += (f' {"-":>10s} {"-":>10s} {"-":>7s} {"-":>10s} '
                     f'{"-":>8s}')
        lines.append(line)
    return '\n'.join(lines)


def _compile_modes(args):
    mode = getattr(args, 'compile', None) or 'no'
    return {'no': [False], 'yes': [True], 'both': [False, True]}[mode]


def run_benchmark(args) -> dict:
    """Measure the peers (``args.peers``, default :func:`default_peers`)
    and ``args.models`` (the options of ``tools/benchmark.py``) for every
    ``args.amp`` and compile mode, round-robin ``args.repeat`` times, and
    the GEMM peak of every amp.

    Returns ``dict(results=summarise(...), threads=..., loads=[before,
    after], peaks={amp: GMAC/s}, reference=NAME)``.

    Raises:
        ValueError: a model is neither a variant name, a config file nor a
            peer (raised before any worker starts).
    """
    peers = list(getattr(args, 'peers', None) or default_peers())
    names = peers + [m for m in args.models if m not in peers]
    for name in names:  # fail before any worker starts
        check_model_name(name)
    args.reference = names[0]
    amps = list(getattr(args, 'amp', None) or ['none'])
    loads = [os.getloadavg()[0]]
    if loads[0] > 0.5:
        print(f'note: load average {loads[0]:.2f} before the run; other '
              'processes share the CPUs and slow both models down',
              file=sys.stderr)
    runs = {}
    peaks = {}
    threads = None
    for repeat in range(args.repeat):
        for amp in amps:
            peak = run_worker(args, 'gemm', 'peak', amp=amp)['gemm_gmac_s']
            peaks[amp] = max(peaks.get(amp, 0.), peak)
            for compiled in _compile_modes(args):
                for name in names:
                    key = _row_key(name, amp, compiled)
                    kinds = ['train', 'infer']
                    if args.stl and not compiled and not name.startswith(
                            TIMM_PREFIX) and name != PEER:
                        kinds.append('stl')
                    for kind in kinds:
                        try:
                            result = run_worker(
                                args, name, kind, amp=amp, compile=compiled,
                                count_macs=kind == 'infer' and repeat == 0)
                        except RuntimeError as error:
                            if kind == 'stl' and 'no token head' in str(
                                    error):
                                continue
                            raise
                        threads = result['torch_threads']
                        runs.setdefault(key, {}).setdefault(
                            kind, []).append(result)
    loads.append(os.getloadavg()[0])
    return dict(results=summarise(runs), threads=threads, loads=loads,
                peaks=peaks, reference=names[0])


if __name__ == '__main__':  # a worker: SETTINGS_JSON MODEL KIND
    worker(types.SimpleNamespace(**json.loads(sys.argv[1])), sys.argv[2],
           sys.argv[3])
