"""STL on your own images: a folder of class sub-folders -> split, configs,
token labeler, STL student, baseline, evaluation report.

``tools/train_custom.py`` is the command line; docs/custom_data.md the
user's guide. :class:`CustomDataWorkflow` runs the stages through
:class:`stl_mm.apis.stages.StageRunner` (headers with ETA, finished stages
skipped on reruns):

1. ``split``: scan and check the folder
   (:func:`stl_mm.datasets.folder_split.scan_class_folders`), split it
   stratified and seeded, write ``WORK/splits/{train,val}.txt`` and
   ``WORK/configs/`` (:func:`write_configs`).
2. ``token_labeler``, ``stl_student``, ``baseline``: one mmengine Runner
   each (:func:`stl_mm.engine.run_train`) on the dumped configs.
3. ``evaluate``: test runs with the report of
   :func:`stl_mm.apis.report.evaluate_with_report`.
4. ``visualize``: training curves and token-label figures.

The dumped configs are ordinary stl_mm configs (``_base_`` = the repo's
model and runtime bases plus ``WORK/configs/_base_/custom_{data,schedule}
.py``), so ``tools/train.py WORK/configs/stl_student.py`` and
``tools/test.py WORK/configs/stl_student.py CKPT`` work without options.
"""
import datetime
import glob
import json
import math
import os
import os.path as osp
import time
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Union

from mmengine.config import Config
from mmengine.dist import barrier, get_dist_info

from stl_mm.datasets.folder_split import (folder_items, read_split,
                                          scan_class_folders,
                                          stratified_split, write_split,
                                          write_split_lines)
from stl_mm.engine import init_distributed, run_train
from stl_mm.engine.test_runner import unique_experiment_name
from stl_mm.evaluation import format_per_class_table, training_curves
from stl_mm.utils.errors import UserError
from stl_mm.visualization import draw_training_curves
from .inference import init_model
from .model_zoo import CONFIG_ROOT
from .report import evaluate_with_report
from .stages import Stage, StageRunner, fmt_time
from .token_labels import describe_token_label_stats, visualize_token_labels

__all__ = ['CustomDataOptions', 'CustomDataWorkflow', 'write_configs',
           'resolve_arch', 'MODELS', 'QUICK_ARCH']

#: the trained models, in training order, with their report titles
MODELS = dict(
    token_labeler='token labeler (STL phase 1, the teacher)',
    stl_student='STL student (phase 2)',
    baseline='baseline (same student, image labels only)')

#: --quick's backbone: a FAN-Hybrid with two blocks of width 32
QUICK_ARCH = dict(embed_dims=32, depth=2, num_heads=2, stem='hybrid',
                  hybrid_depths=[1, 1], dense_index=1)

# Cost model of the first ETA, for a 2-core CPU: seconds per training image
# at 224 px for the default arch (fan_tiny_8_p4_hybrid_token: about 16 CPU-s
# per batch of 8, measured on a 2-core AMD EPYC on 2026-12-01) and at 64 px
# for --quick's; per val image; per start of a Runner. Phase 1's measured
# speed replaces the per-image guess for the later stages.
_COST = dict(image_224=1.0, image_quick=0.004, start=6., eval_image=0.02)


@dataclass
class CustomDataOptions:
    """The workflow's settings (``tools/train_custom.py``'s options).

    ``None`` means the documented default, resolved by :meth:`resolved`
    from the data size and ``quick`` (docs/custom_data.md):

    - ``img_size`` 224 (``--quick``: 64), a multiple of 16;
    - ``batch_size`` 32 (``--quick``: 8);
    - ``epochs`` 100 from scratch, 30 with ``load_from`` (``--quick``: 1);
    - ``lr``: AdamW 3e-4 from scratch, 1e-4 with ``load_from``; SophiaH
      3e-2 with update clipping ``p=0.01`` (the largest step per weight is
      then ``lr * p = 3e-4``, AdamW's);
    - ``weight_decay`` 0.05 for AdamW, 5e-4 for SophiaH (decoupled decay
      is ``lr * weight_decay`` per step: the same shrinkage as AdamW's).
    """
    data_dir: str
    work_dir: str
    arch: str = 'fan_tiny_8_p4_hybrid_token'
    img_size: Optional[int] = None
    epochs: Optional[int] = None
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    weight_decay: Optional[float] = None
    optimizer: str = 'adamw'
    val_ratio: float = 0.2
    val_dir: Optional[str] = None
    seed: int = 0
    baseline: bool = True
    quick: bool = False
    load_from: Optional[str] = None
    skip_unreadable: bool = False
    force: bool = False
    workers: Optional[int] = None
    launcher: str = 'none'
    vis_images: int = 4

    def resolved(self) -> 'CustomDataOptions':
        """A copy with defaults filled in and paths made absolute; checks
        the values (UserError)."""
        o = CustomDataOptions(**asdict(self))
        o.data_dir = osp.abspath(o.data_dir)
        o.work_dir = osp.abspath(o.work_dir)
        o.val_dir = osp.abspath(o.val_dir) if o.val_dir else None
        if o.optimizer not in ('adamw', 'sophia'):
            raise UserError(f'--optimizer must be adamw or sophia, got '
                            f'"{o.optimizer}".')
        pretrained = o.load_from is not None
        if o.load_from is not None:
            o.load_from = osp.abspath(o.load_from)
            if not osp.isfile(o.load_from):
                raise UserError(f'--load-from "{o.load_from}" is not a '
                                'file: give an upstream FAN .pth.tar or an '
                                'stl_mm checkpoint.')
        if o.img_size is None:
            o.img_size = 64 if o.quick else 224
        if o.img_size <= 0 or o.img_size % 16:
            raise UserError(f'--img-size must be a positive multiple of 16 '
                            f'(the FAN patch stride), got {o.img_size}.')
        if o.batch_size is None:
            o.batch_size = 8 if o.quick else 32
        if o.epochs is None:
            o.epochs = 1 if o.quick else (30 if pretrained else 100)
        for name in ('epochs', 'batch_size'):
            if getattr(o, name) < 1:
                raise UserError(f'--{name.replace("_", "-")} must be at '
                                f'least 1, got {getattr(o, name)}.')
        sophia = o.optimizer == 'sophia'
        if o.lr is None:
            o.lr = 3e-2 if sophia else (1e-4 if pretrained else 3e-4)
        if o.weight_decay is None:
            o.weight_decay = 5e-4 if sophia else 0.05
        if o.workers is None:
            o.workers = 0 if o.quick else 2
        if o.quick:
            o.vis_images = min(o.vis_images, 2)
        if o.val_dir and not osp.isdir(o.val_dir):
            raise UserError(f'--val-dir "{o.val_dir}" is not a folder.')
        return o


# ---------------------------------------------------------------------------
# architecture
# ---------------------------------------------------------------------------
def resolve_arch(arch: str, quick: bool = False) -> dict:
    """Backbone settings of ``--arch``: ``dict(arch=<name or dict>,
    embed_dims=<head input width>, drop_path_rate=...)``.

    ``arch`` is a FAN-Hybrid variant name (``stl_mm.FAN.arch_zoo``; the
    ``_token`` names and their bases build the same backbone) or a config
    file whose ``model.backbone`` is an ``stl_mm.FAN``. ``quick`` replaces
    it with :data:`QUICK_ARCH`.
    """
    from stl_mm.models.backbones.fan import FAN
    if quick:
        return dict(arch=dict(QUICK_ARCH), embed_dims=QUICK_ARCH['embed_dims'],
                    drop_path_rate=0.)
    if arch.endswith('.py'):
        if not osp.isfile(arch):
            raise UserError(f'--arch config "{arch}" not found.')
        backbone = Config.fromfile(arch).model.get('backbone', {})
        if backbone.get('type') not in ('stl_mm.FAN', 'FAN'):
            raise UserError(
                f'--arch config "{arch}" must have an stl_mm.FAN backbone '
                f'(token labels need FAN), got {backbone.get("type")}.')
        name = backbone['arch']
        drop_path = backbone.get('drop_path_rate', 0.05)
    else:
        name, drop_path = arch, 0.05
    if isinstance(name, str):
        if name not in FAN.arch_zoo:
            hybrids = sorted(n for n in FAN.arch_zoo if 'hybrid' in n)
            raise UserError(f'Unknown --arch "{name}": give one of '
                            f'{", ".join(hybrids)} or a config file.')
        settings = FAN.arch_zoo[name]
    else:
        settings = dict(name)
    stage2 = settings.get('stage2')
    width = stage2['embed_dims'] if stage2 else settings['embed_dims']
    return dict(arch=name if isinstance(name, str) else dict(name),
                embed_dims=int(width), drop_path_rate=float(drop_path))


# ---------------------------------------------------------------------------
# configs
# ---------------------------------------------------------------------------
def _py(value, indent: int = 0) -> str:
    """Python source of a config value (dicts as ``dict(...)``)."""
    pad = ' ' * (indent + 4)
    if isinstance(value, dict):
        if not value:
            return 'dict()'
        named = all(isinstance(k, str) and k.isidentifier() for k in value)
        items = [(f'{k}=' if named else f'{k!r}: ') + _py(v, indent + 4)
                 for k, v in value.items()]
        open_, close = ('dict(', ')') if named else ('{', '}')
        one_line = open_ + ', '.join(items) + close
        if len(one_line) + indent < 70 and '\n' not in one_line:
            return one_line
        return open_ + '\n' + ',\n'.join(pad + i for i in items) + close
    if isinstance(value, (list, tuple)):
        open_, close = ('[', ']') if isinstance(value, list) else ('(', ')')
        if not value:
            return open_ + close
        inner = [_py(v, indent + 4) for v in value]
        one_line = open_ + ', '.join(inner) + (
            ',' if isinstance(value, tuple) and len(value) == 1 else '') + \
            close
        if len(one_line) + indent < 70 and '\n' not in one_line:
            return one_line
        return open_ + '\n' + ',\n'.join(pad + v for v in inner) + close
    if isinstance(value, _Ref):
        return value.name
    return repr(value)


class _Ref:
    """A reference to a variable of the config file (written bare)."""

    def __init__(self, name: str):
        self.name = name


def _write(path: str, header: str, body: Dict[str, object]) -> str:
    lines = [f'# {line}'.rstrip() for line in header.strip().splitlines()]
    lines.append('')
    for key, value in body.items():
        lines.append(f'{key} = {_py(value)}')
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def _data_config(o: CustomDataOptions, split: dict) -> Dict[str, object]:
    size = o.img_size
    resize = int(math.ceil(size / 0.875))
    crop = dict(type='RandomResizedCrop', scale=size, backend='pillow',
                interpolation='bicubic')
    flip = dict(type='RandomFlip', prob=0.5, direction='horizontal')
    train_pipeline = [dict(type='stl_mm.LoadImageFromFile'), crop, flip,
                      dict(type='PackInputs')]
    stl_train_pipeline = [
        dict(type='stl_mm.LoadImageFromFile'),
        dict(type='stl_mm.AddTeacherView'),
        dict(type='stl_mm.TwoViewSpatial', transforms=[crop, flip]),
        dict(type='PackInputs', algorithm_keys=['teacher_img'])]
    test_pipeline = [
        dict(type='stl_mm.LoadImageFromFile'),
        dict(type='ResizeEdge', scale=resize, edge='short',
             backend='pillow', interpolation='bicubic'),
        dict(type='CenterCrop', crop_size=size),
        dict(type='PackInputs')]
    workers = dict(num_workers=o.workers,
                   persistent_workers=o.workers > 0)

    def dataset(root_name, ann, pipeline):
        return dict(type='CustomDataset', data_root=_Ref(root_name),
                    data_prefix='', ann_file=ann,
                    metainfo=dict(classes=_Ref('classes')),
                    pipeline=_Ref(pipeline))

    train_ann = split.get('train_file_used', split['files']['train'])
    k5 = min(5, len(split['classes']))
    return dict(
        dataset_type='CustomDataset',
        data_root=split['data_root']['train'],
        val_data_root=split['data_root']['val'],
        classes=list(split['classes']),
        num_classes=len(split['classes']),
        img_size=size,
        train_pipeline=train_pipeline,
        stl_train_pipeline=stl_train_pipeline,
        test_pipeline=test_pipeline,
        train_dataloader=dict(
            batch_size=o.batch_size, **workers,
            sampler=dict(type='DefaultSampler', shuffle=True),
            dataset=dataset('data_root', train_ann, 'train_pipeline')),
        val_dataloader=dict(
            batch_size=o.batch_size, **workers,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dataset('val_data_root', split['files']['val'],
                            'test_pipeline')),
        val_evaluator=dict(type='Accuracy', topk=(1, k5)),
        test_dataloader=_Ref('val_dataloader'),
        test_evaluator=_Ref('val_evaluator'),
    )


def _schedule_config(o: CustomDataOptions,
                     iters_per_epoch: int) -> Dict[str, object]:
    e = o.epochs
    warmup = max(1, int(round(0.05 * e))) if e > 1 else 0
    total = e * iters_per_epoch
    nodecay = {k: dict(decay_mult=0.0) for k in
               ('cls_token', 'gamma', 'temperature')}
    paramwise = dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                     custom_keys=nodecay)
    if o.optimizer == 'sophia':
        optim = dict(type='stl_mm.HessianOptimWrapper',
                     optimizer=dict(type='stl_mm.SophiaH', lr=o.lr,
                                    weight_decay=o.weight_decay, p=0.01,
                                    update_period=10),
                     paramwise_cfg=paramwise)
    else:
        optim = dict(optimizer=dict(type='AdamW', lr=o.lr,
                                    weight_decay=o.weight_decay),
                     clip_grad=dict(max_norm=5.0),
                     paramwise_cfg=paramwise)
    schedulers = []
    if warmup:
        schedulers.append(dict(type='LinearLR', start_factor=0.01,
                               by_epoch=True, begin=0, end=warmup,
                               convert_to_iter_based=True))
        schedulers.append(dict(type='CosineAnnealingLR',
                               eta_min=o.lr * 0.01, by_epoch=True,
                               begin=warmup, end=e,
                               convert_to_iter_based=True))
    else:  # one epoch: a short linear warm-up, then the rate is held
        # (mmengine's LinearLR reaches the full rate at iteration end - 1)
        schedulers.append(dict(type='LinearLR', start_factor=0.1,
                               by_epoch=False, begin=0,
                               end=max(2, iters_per_epoch // 4 + 1)))
    return dict(
        optim_wrapper=optim,
        param_scheduler=schedulers,
        train_cfg=dict(by_epoch=True, max_epochs=e,
                       val_interval=max(1, e // 20)),
        val_cfg=dict(),
        test_cfg=dict(),
        # EMA time constant ~ 10 % of the run (1 / momentum iterations)
        ema_momentum=float(min(0.2, max(1e-4, 10. / max(total, 1)))),
    )


def write_configs(o: CustomDataOptions, split: dict) -> Dict[str, str]:
    """Write ``WORK/configs/`` for resolved options ``o`` and the split
    record ``split`` (``split.json``). Returns their paths by model name
    (and ``data``, ``schedule`` for the two shared bases)."""
    cfg_dir = osp.join(o.work_dir, 'configs')
    base_dir = osp.join(cfg_dir, '_base_')
    repo = str(CONFIG_ROOT)
    arch = resolve_arch(o.arch, o.quick)
    n_train = sum(split['counts']['train_used'].values())
    iters = max(1, math.ceil(n_train / o.batch_size))
    schedule = _schedule_config(o, iters)
    ema = schedule.pop('ema_momentum')
    stamp = (f'Written by tools/train_custom.py on '
             f'{datetime.date.today().isoformat()} for {o.data_dir}.')
    paths = dict(data=osp.join(base_dir, 'custom_data.py'),
                 schedule=osp.join(base_dir, 'custom_schedule.py'))
    _write(paths['data'], f"""{stamp}
Own-data set: the split files of WORK/splits (one "<path> <label>" line per
image, mmpretrain CustomDataset), class names in metainfo (saved in the
checkpoints), images of any size resized to img_size (a multiple of 16):
random-resized crops for training, short-edge resize + centre crop for
evaluation.""", _data_config(o, split))
    _write(paths['schedule'], f"""{stamp}
Schedule scaled to the data: {n_train} training images, batch
{o.batch_size} -> {iters} iterations per epoch, {o.epochs} epoch(s); warm-up
(5 % of the epochs, at least one), then cosine decay (a single epoch: a
short warm-up, then the rate is held). Options: docs/custom_data.md.""",
           schedule)
    init = (dict(init_cfg=dict(type='Pretrained', checkpoint=o.load_from))
            if o.load_from else {})
    backbone = dict(arch=arch['arch'], drop_path_rate=arch['drop_path_rate'],
                    **init)
    mix = dict(num_classes=_Ref('{{_base_.num_classes}}'))
    if o.quick:  # a one-epoch smoke run: no mixing, no erasing
        mix.update(mix=dict(prob=0.), erase=dict(prob=0.))
    runtime = [
        dict(type='CheckpointHook', interval=o.epochs, max_keep_ckpts=1,
             save_best='accuracy/top1', rule='greater'),
        [dict(type='EMAHook', momentum=ema, update_buffers=True,
              priority=49)],
    ]
    common = dict(
        default_hooks=dict(checkpoint=runtime[0],
                           logger=dict(type='LoggerHook',
                                       interval=max(1, min(50, iters // 2)))),
        custom_hooks=runtime[1],
        randomness=dict(seed=o.seed))
    head_common = dict(num_classes=_Ref('{{_base_.num_classes}}'),
                       in_channels=arch['embed_dims'])
    work = o.work_dir
    arch_name = 'the tiny FAN of --quick' if o.quick else o.arch
    shared_bases = [osp.join(repo, '_base_/imagenet_ema_runtime.py'),
                    './_base_/custom_data.py', './_base_/custom_schedule.py']
    labeler = dict(
        _base_=[osp.join(repo, '_base_/models/stl_labeler.py'),
                *shared_bases],
        model=dict(data_preprocessor=mix, backbone=backbone,
                   head=head_common),
        work_dir=osp.join(work, 'token_labeler'), **common)
    paths['token_labeler'] = _write(
        osp.join(cfg_dir, 'token_labeler.py'), f"""{stamp}
STL phase 1: the token labeler ({arch_name}), trained on the image
labels; its best EMA checkpoint
(token_labeler/best_accuracy_top1_epoch_<N>.pth) is the teacher of
stl_student.py.
  python tools/train.py {osp.join(cfg_dir, 'token_labeler.py')}""", labeler)
    teacher_ckpt = osp.join(work, 'token_labeler',
                            'best_accuracy_top1_epoch_*.pth')
    student = dict(
        _base_=[osp.join(repo, '_base_/models/stl_student.py'),
                *shared_bases],
        model=dict(
            data_preprocessor=mix, backbone=backbone, head=head_common,
            teacher=dict(config='{{ fileDirname }}/token_labeler.py',
                         checkpoint=teacher_ckpt),
            grid_check_size=(o.img_size, o.img_size)),
        train_dataloader=dict(dataset=dict(
            pipeline=_Ref('{{_base_.stl_train_pipeline}}'))),
        work_dir=osp.join(work, 'stl_student'), **common)
    paths['stl_student'] = _write(
        osp.join(cfg_dir, 'stl_student.py'), f"""{stamp}
STL phase 2: the student, taught by the frozen token labeler (its best EMA
checkpoint, found by the glob below: exactly one file matches), trained on
image labels + token labels. Another teacher:
  --cfg-options model.teacher.checkpoint=<phase-1 file>
  python tools/train.py {osp.join(cfg_dir, 'stl_student.py')}
  python tools/test.py {osp.join(cfg_dir, 'stl_student.py')} <checkpoint>""",
        student)
    baseline = dict(
        _base_=[osp.join(repo, '_base_/models/fan.py'),
                *shared_bases],
        model=dict(data_preprocessor=mix, backbone=backbone,
                   head=head_common),
        work_dir=osp.join(work, 'baseline'), **common)
    paths['baseline'] = _write(
        osp.join(cfg_dir, 'baseline.py'), f"""{stamp}
Baseline: the student's architecture, data, augmentation and budget,
trained on the image labels alone (class token + linear head).
  python tools/train.py {osp.join(cfg_dir, 'baseline.py')}""", baseline)
    return paths


# ---------------------------------------------------------------------------
# the workflow
# ---------------------------------------------------------------------------
def _quick_subset(items: List, classes: List[str], per_class: int) -> List:
    """The first ``per_class`` training images of each class (--quick)."""
    kept, count = [], {}
    for rel, label in items:
        if count.get(label, 0) < per_class:
            kept.append((rel, label))
            count[label] = count.get(label, 0) + 1
    return kept


class CustomDataWorkflow:
    """Split, configs, three trainings, evaluation and report for a folder
    of class sub-folders (see the module docstring).

    Args:
        options: :class:`CustomDataOptions` (resolved here).
        log: printing function.
    """

    QUICK_TRAIN_PER_CLASS = 24

    def __init__(self, options: CustomDataOptions, log=None):
        self.o = options.resolved()
        self.log = log or (lambda line: print(line, flush=True))
        self.work = self.o.work_dir
        self.split_dir = osp.join(self.work, 'splits')
        self.report_dir = osp.join(self.work, 'report')
        self.config_paths: Dict[str, str] = {}
        self.split: Optional[dict] = None
        self.per_image_s: Optional[float] = None
        self.dist_cfg = Config(dict())
        models = list(MODELS) if self.o.baseline else list(MODELS)[:2]
        self.models = models

    # ------------------------------------------------------------- helpers
    @property
    def main(self) -> bool:
        return get_dist_info()[0] == 0

    def _on_main(self, fn):
        """Run ``fn`` on the main process only (others wait for it)."""
        def run():
            result = fn() if self.main else None
            if self.o.launcher != 'none':
                barrier()
            return result
        return run

    def _split_record(self) -> dict:
        if self.split is None:
            with open(osp.join(self.split_dir, 'split.json'),
                      encoding='utf-8') as f:
                self.split = json.load(f)
            self.config_paths = self.split.get('configs', {})
        return self.split

    def checkpoint(self, model: str) -> str:
        """The checkpoint a model is evaluated with: the teacher's best
        EMA checkpoint, the last one of the others."""
        folder = osp.join(self.work, model)
        if model == 'token_labeler':
            found = sorted(glob.glob(osp.join(
                folder, 'best_accuracy_top1_epoch_*.pth')))
            if found:
                return found[-1]
        return osp.join(folder, f'epoch_{self.o.epochs}.pth')

    # ----------------------------------------------------------------- ETA
    def _n(self, part: str) -> int:
        if self.split is None:
            if not osp.isfile(osp.join(self.split_dir, 'split.json')):
                return 0
            self._split_record()
        key = 'train_used' if part == 'train' else part
        return sum(self.split['counts'][key].values())

    def _train_estimate(self, model: str):
        def estimate():
            images = self._n('train') * self.o.epochs
            per_image = self.per_image_s
            if per_image is None:
                scale = (self.o.img_size / (64 if self.o.quick else 224)) ** 2
                per_image = scale * _COST['image_quick' if self.o.quick
                                          else 'image_224']
            factor = {'stl_student': 1.4}.get(model, 1.0)
            vals = self._n('val') * max(1, self.o.epochs //
                                        max(1, self.o.epochs // 20))
            return (_COST['start'] + images * per_image * factor +
                    vals * _COST['eval_image'])
        return estimate

    # -------------------------------------------------------------- stages
    def stage_split(self) -> dict:
        o = self.o
        scan = scan_class_folders(o.data_dir, skip_unreadable=
                                  o.skip_unreadable, workers=2)
        self._report_scan(scan, 'DATA_DIR')
        classes = scan.classes
        roots = dict(train=scan.root, val=scan.root)
        if o.val_dir:
            val_scan = scan_class_folders(o.val_dir, skip_unreadable=
                                          o.skip_unreadable, workers=2,
                                          what='--val-dir')
            self._report_scan(val_scan, '--val-dir')
            items = dict(train=[(p, classes.index(c)) for c in classes
                                for p in scan.files[c]],
                         val=folder_items(val_scan, classes))
            roots['val'] = val_scan.root
            skipped = scan.unreadable + val_scan.unreadable
        else:
            items = stratified_split(scan, o.val_ratio, o.seed)
            skipped = scan.unreadable
        paths = write_split(
            self.split_dir, classes, items, roots, seed=o.seed,
            val_ratio=None if o.val_dir else o.val_ratio,
            skipped_unreadable=[f'{r}: {w}' for r, w in skipped],
            ignored_files=scan.ignored)
        with open(paths['meta'], encoding='utf-8') as f:
            split = json.load(f)
        used = items['train']
        if o.quick:
            used = _quick_subset(items['train'], classes,
                                 self.QUICK_TRAIN_PER_CLASS)
            split['train_file_used'] = osp.join(self.split_dir,
                                                'train_quick.txt')
            write_split_lines(split['train_file_used'], used)
        counts = {c: 0 for c in classes}
        for _, label in used:
            counts[classes[label]] += 1
        split['counts']['train_used'] = counts
        self.split = split
        self.config_paths = write_configs(o, split)
        split['configs'] = self.config_paths
        with open(paths['meta'], 'w', encoding='utf-8') as f:
            json.dump(split, f, indent=2, ensure_ascii=False)
            f.write('\n')
        for name in self.models:  # every dumped config must load
            Config.fromfile(self.config_paths[name])
        n_train, n_val = len(items['train']), len(items['val'])
        self.log(f'{len(classes)} classes, {n_train} train / {n_val} val '
                 f'images; split files in {self.split_dir}, configs in '
                 f'{osp.dirname(self.config_paths["token_labeler"])}')
        if o.quick:
            self.log(f'--quick trains on {len(used)} of the {n_train} '
                     f'training images ({split["train_file_used"]})')
        return dict(classes=classes, train=n_train, val=n_val)

    def _report_scan(self, scan, what: str) -> None:
        if scan.unreadable:
            self.log(f'--skip-unreadable: left out {len(scan.unreadable)} '
                     f'unreadable image(s) of {what}:')
            for rel, why in scan.unreadable:
                self.log(f'    {rel}: {why}')
        if scan.ignored:
            shown = ', '.join(scan.ignored[:5])
            more = len(scan.ignored) - 5
            self.log(f'ignored {len(scan.ignored)} file(s) of {what} that '
                     f'are no images by their name: {shown}'
                     f'{f" and {more} more" if more > 0 else ""}')

    def _config(self, model: str) -> Config:
        cfg = Config.fromfile(self._split_record()['configs'][model])
        for key in ('model_wrapper_cfg', 'env_cfg'):
            if key in self.dist_cfg:  # CPU DDP settings of init_distributed
                cfg.merge_from_dict({key: self.dist_cfg[key]})
        return cfg

    def stage_train(self, model: str) -> dict:
        cfg = self._config(model)
        # checkpoints of an earlier (changed or interrupted) run would make
        # the teacher glob ambiguous or be taken for this run's
        folder = osp.join(self.work, model)
        if self.main:
            for old in glob.glob(osp.join(folder, '*.pth')) + [
                    osp.join(folder, 'last_checkpoint')]:
                if osp.isfile(old):
                    os.remove(old)
        cfg.experiment_name = unique_experiment_name(model)
        started = time.time()
        run_train(cfg, self.o.launcher)
        seconds = time.time() - started
        if model == 'token_labeler' and self._n('train'):
            self.per_image_s = max(
                (seconds - _COST['start']) /
                (self._n('train') * self.o.epochs), 1e-4)
        checkpoint = self.checkpoint(model)
        if not osp.isfile(checkpoint):
            raise RuntimeError(f'training {model} wrote no {checkpoint}')
        return dict(checkpoint=checkpoint, wall_time_s=round(seconds, 1))

    def stage_evaluate(self) -> dict:
        results = {}
        for model in self.models:
            cfg = self._config(model)
            cfg.log_level = 'WARNING'
            out = evaluate_with_report(
                cfg, self.checkpoint(model), self.report_dir, name=model,
                work_dir=osp.join(self.work, 'eval', model),
                launcher=self.o.launcher,
                experiment_name=unique_experiment_name(f'eval_{model}'))
            report = out['report']
            if report is not None:
                results[model] = dict(
                    top1=report['top1'], top5=report['top5'],
                    topk=report['topk'], per_class=report['per_class'],
                    macro=report['macro'], figures=report['figures'],
                    files=report['files'], checkpoint=self.checkpoint(model))
                self.log(f'  {MODELS[model]}: top-1 {report["top1"]:.2f} %,'
                         f' top-{report["topk"]} {report["top5"]:.2f} %')
        return results

    def stage_visualize(self) -> dict:
        curves = {m: training_curves(osp.join(self.work, m))
                  for m in self.models}
        figures = dict(training_curves=draw_training_curves(
            curves, osp.join(self.report_dir, 'training_curves.png'),
            title='loss and val top-1 per epoch'))
        split = self._split_record()
        root = split['data_root']['val']
        val = read_split(split['files']['val'])
        # the first val image of each class, round robin
        by_class = {}
        for rel, label in val:
            by_class.setdefault(label, []).append(osp.join(root, rel))
        chosen, i = [], 0
        lists = list(by_class.values())
        while len(chosen) < min(self.o.vis_images, len(val)):
            files = lists[i % len(lists)]
            if i // len(lists) < len(files):
                chosen.append(files[i // len(lists)])
            i += 1
        token_figures = {}
        for model in ('token_labeler', 'stl_student'):
            net = init_model(self._split_record()['configs'][model],
                             self.checkpoint(model))
            result = visualize_token_labels(
                net, chosen, osp.join(self.report_dir, 'token_labels'),
                prefix=f'{model}_', title=MODELS[model], masks=None)
            token_figures[model] = result['figures'] + [result['histogram']]
            self.log(f'  {MODELS[model]}: '
                     f'{describe_token_label_stats(result["stats"])}')
        figures['token_labels'] = token_figures
        return dict(figures=figures, curves=curves)

    # ----------------------------------------------------------------- run
    def stages(self) -> List[Stage]:
        o = self.o
        settings = {k: v for k, v in asdict(o).items()
                    if k not in ('force', 'launcher', 'workers')}
        stages = [Stage('split', 'Checking the images, writing the split '
                        'and the configs', self._on_main(self.stage_split),
                        estimate=5., settings=settings,
                        outputs=[osp.join(self.split_dir, 'split.json')])]
        titles = dict(
            token_labeler='Training the token labeler (STL phase 1)',
            stl_student='Training the STL student (phase 2, token labels '
            'from the frozen phase-1 teacher)',
            baseline='Training the baseline (image labels only, same '
            'budget)')
        for model in self.models:
            depends = ['split'] + (['token_labeler']
                                   if model == 'stl_student' else [])
            stages.append(Stage(
                model, titles[model],
                lambda m=model: self.stage_train(m),
                estimate=self._train_estimate(model), settings=settings,
                outputs=[lambda m=model: self.checkpoint(m)],
                depends=depends))
        stages.append(Stage(
            'evaluate', 'Evaluating on the val split (report: per-class '
            'table, confusion matrix, ROC)', self.stage_evaluate,
            estimate=lambda: len(self.models) * (
                _COST['start'] + self._n('val') * _COST['eval_image']),
            settings=settings, depends=list(self.models),
            outputs=[osp.join(self.report_dir, f'{m}_report.json')
                     for m in self.models]))
        stages.append(Stage(
            'visualize', 'Drawing training curves and token labels',
            self._on_main(self.stage_visualize),
            estimate=4. + 3. * o.vis_images, settings=settings,
            depends=list(self.models),
            outputs=[osp.join(self.report_dir, 'training_curves.png')]))
        return stages

    def run(self) -> dict:
        """Run every stage; returns the summary (also in
        ``WORK/summary.json``)."""
        o = self.o
        started = time.time()
        if o.launcher != 'none':
            init_distributed(self.dist_cfg, o.launcher)
        os.makedirs(self.work, exist_ok=True)
        self.log(f'STL on {o.data_dir}: work dir {self.work}'
                 f'{" (--quick smoke run)" if o.quick else ""}')
        runner = StageRunner(self.work, self.stages(), force=o.force,
                             log=self.log if self.main else
                             (lambda line: None))
        results = runner.run()
        if not self.main:
            return {}
        summary = self._summary(results, runner, time.time() - started)
        path = osp.join(self.work, 'summary.json')
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(summary, f, indent=2, ensure_ascii=False)
            f.write('\n')
        self.log('\n' + self.results_table(summary))
        self.log(f'\nTotal wall time {fmt_time(time.time() - started)}; '
                 f'summary: {path}; report: {self.report_dir}')
        return summary

    def _summary(self, results: dict, runner: StageRunner,
                 seconds: float) -> dict:
        split = self._split_record()
        evaluation = results.get('evaluate') or {}
        vis = results.get('visualize') or {}
        figures = dict(vis.get('figures', {}))
        figures['confusion_matrix'] = {m: r['figures']['confusion']
                                       for m, r in evaluation.items()}
        figures['roc'] = {m: r['figures']['roc']
                          for m, r in evaluation.items()}
        return dict(
            data_dir=self.o.data_dir,
            work_dir=self.work,
            classes=split['classes'],
            num_classes=split['num_classes'],
            splits=dict(train=split['files']['train'],
                        val=split['files']['val'],
                        meta=osp.join(self.split_dir, 'split.json'),
                        train_used=split.get('train_file_used',
                                             split['files']['train']),
                        counts=split['counts'],
                        data_root=split['data_root'],
                        seed=split.get('seed'),
                        val_ratio=split.get('val_ratio')),
            settings={k: v for k, v in asdict(self.o).items()},
            configs=split['configs'],
            checkpoints={m: self.checkpoint(m) for m in self.models},
            metrics={m: {k: r[k] for k in ('top1', 'top5', 'topk',
                                            'per_class', 'macro')}
                     for m, r in evaluation.items()},
            reports={m: r['files'] for m, r in evaluation.items()},
            figures=figures,
            stages={k: dict(wall_time_s=runner.wall_time(k)) for k in
                    results},
            total_wall_time_s=round(seconds, 1),
        )

    def results_table(self, summary: dict) -> str:
        n_val = sum(summary['splits']['counts']['val'].values())
        lines = [f'Results on the val split ({n_val} images, '
                 f'{summary["num_classes"]} classes):', '',
                 '| model | top-1 (%) | top-5 (%) | macro F1 (%) | '
                 'macro AUC |', '|---|---:|---:|---:|---:|']
        for model, m in summary['metrics'].items():
            auc = m['macro']['auc']
            lines.append(f'| {MODELS[model]} | {m["top1"]:.2f} | '
                         f'{m["top5"]:.2f} | {m["macro"]["f1"]:.2f} | '
                         f'{"—" if auc is None else f"{auc:.3f}"} |')
        student = summary['reports'].get('stl_student')
        if student:
            with open(student['json'], encoding='utf-8') as f:
                report = json.load(f)
            lines += ['', f'Per class, {MODELS["stl_student"]}:', '',
                      format_per_class_table(report)]
        return '\n'.join(lines)


def run_custom_data(options: Union[CustomDataOptions, dict]) -> dict:
    """Run the workflow; returns the summary."""
    if isinstance(options, dict):
        options = CustomDataOptions(**options)
    return CustomDataWorkflow(options).run()

