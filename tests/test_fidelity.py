"""The ImageNet recipes against the official NVlabs/STL commands.

Every row of the flag tables in docs/fidelity.md is checked here on every
phase-1 and phase-2 config (values, not presence), and the tables and this
test must list the same flags. Also: the learning-rate schedule simulated
with mmengine's real schedulers against timm's, the README command lines
through the real config loader and model build, and the one place of the
data preprocessor in every config.
"""
import argparse
import math
import re
import shlex
import warnings
from pathlib import Path

import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import DefaultScope

from stl_mm.utils import register_all_modules

REPO = Path(__file__).resolve().parents[1]
STL = REPO / 'configs' / 'stl'
SIZES = {  # short name: (drop-path, batch, lr, warm-up epochs)
    't': (0.05, 128, 2e-3, 5),
    's': (0.25, 128, 2e-3, 5),
    'b': (0.35, 64, 4e-3, 10),
    'l': (0.45, 64, 4e-3, 10),
}
PHASES = ('token_labeler', 'student')
RECIPES = [(size, phase) for size in SIZES for phase in PHASES]


@pytest.fixture(scope='module', autouse=True)
def _scope():
    register_all_modules(init_default_scope=False)


_CACHE = {}


def _cfg(size, phase):
    key = (size, phase)
    if key not in _CACHE:
        _CACHE[key] = Config.fromfile(str(STL / f'fan_{size}_{phase}.py'))
    return _CACHE[key]


# ---------------------------------------------------------------------------
# helpers reading a config
# ---------------------------------------------------------------------------
def _train_pipeline(cfg):
    return cfg.train_dataloader.dataset.pipeline


def _train_crop(cfg):
    for t in _train_pipeline(cfg):
        if t['type'] == 'stl_mm.TwoViewSpatial':
            return t['transforms'][0]
        if 'ResizedCrop' in t['type']:
            return t
    raise AssertionError('no random-resized crop in the train pipeline')


def _randaug(cfg):
    found = [t for t in _train_pipeline(cfg) if 'RandAugment' in t['type']]
    assert len(found) == 1
    return found[0]


def _ema(cfg):
    hooks = [h for h in cfg.custom_hooks if h['type'] == 'EMAHook']
    assert len(hooks) == 1
    return hooks[0]


def _pre(cfg):
    return cfg.model.data_preprocessor


# ---------------------------------------------------------------------------
# one check per official flag (keys as in docs/fidelity.md)
# ---------------------------------------------------------------------------
def _check_batch(cfg, size, phase):
    assert cfg.train_dataloader.batch_size == SIZES[size][1]


def _check_sched(cfg, size, phase):
    assert [s['type'] for s in cfg.param_scheduler] == [
        'LinearLR', 'CosineAnnealingLR', 'ConstantLR']


def _check_epochs(cfg, size, phase):
    cos = cfg.param_scheduler[1]
    assert cos['by_epoch'] and cos['begin'] + cos['T_max'] == 350
    assert cos['end'] == 351  # the step at epoch 350 is exactly eta_min


def _check_opt(cfg, size, phase):
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'AdamW' and opt.eps == 1e-8
    assert tuple(opt.betas) == (0.9, 0.999)


def _check_warmup_lr(cfg, size, phase):
    warm = cfg.param_scheduler[0]
    assert warm['type'] == 'LinearLR' and warm['begin'] == 0
    assert warm['start_factor'] * cfg.optim_wrapper.optimizer.lr == \
        pytest.approx(1e-6)


def _check_warmup_epochs(cfg, size, phase):
    warm = cfg.param_scheduler[0]
    assert warm['end'] == SIZES[size][3] and warm['convert_to_iter_based']
    # as timm, the cosine counts from epoch 0 (the warm-up scales it)
    assert cfg.param_scheduler[1]['begin'] == 0


def _check_lr(cfg, size, phase):
    assert cfg.optim_wrapper.optimizer.lr == SIZES[size][2]


def _check_min_lr(cfg, size, phase):
    assert cfg.param_scheduler[1]['eta_min'] == 1e-6


def _check_weight_decay(cfg, size, phase):
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    pw = cfg.optim_wrapper.paramwise_cfg
    assert pw.norm_decay_mult == 0. and pw.bias_decay_mult == 0.
    assert {k: v['decay_mult'] for k, v in pw.custom_keys.items()} == {
        'cls_token': 0., 'gamma': 0., 'temperature': 0.}


def _check_model_ema(cfg, size, phase):
    assert _ema(cfg)['update_buffers'] is True


def _check_model_ema_decay(cfg, size, phase):
    assert _ema(cfg)['momentum'] == pytest.approx(1 - 0.99992)


def _check_aa(cfg, size, phase):
    ra = _randaug(cfg)
    assert (ra['policies'], ra['num_policies'], ra['magnitude_level'],
            ra['magnitude_std'], ra['total_level']) == (
                'timm_increasing', 2, 9, 0.5, 10)
    assert ra['type'] == ('stl_mm.TwoViewRandAugment' if phase == 'student'
                          else 'RandAugment')


def _check_remode(cfg, size, phase):
    assert _pre(cfg).erase.mode == 'pixel'


def _check_reprob(cfg, size, phase):
    erase = _pre(cfg).erase
    assert erase.type == 'stl_mm.BatchRandomErasing' and erase.prob == 0.3
    assert (erase.min_area, erase.max_area, erase.min_aspect) == (
        0.02, pytest.approx(1 / 3), 0.3)


def _check_drop(cfg, size, phase):
    assert 'drop_rate' not in cfg.model.backbone
    assert 'dropout' not in str(cfg.model.head).lower()


def _check_drop_path(cfg, size, phase):
    assert cfg.model.backbone.drop_path_rate == SIZES[size][0]
    assert cfg.model.backbone.drop_path_schedule == 'uniform'


def _check_img_size(cfg, size, phase):
    assert _train_crop(cfg)['scale'] == 224
    test = {t['type']: t for t in cfg.test_dataloader.dataset.pipeline}
    assert test['ResizeEdge']['scale'] == 224
    assert test['CenterCrop']['crop_size'] == 224


def _check_mixup(cfg, size, phase):
    assert _pre(cfg).mix.mixup_alpha == 0.8


def _check_cutmix(cfg, size, phase):
    assert _pre(cfg).mix.cutmix_alpha == 1.0


def _check_mixup_prob(cfg, size, phase):
    assert (_pre(cfg).mix.prob, _pre(cfg).mix.switch_prob) == (1.0, 0.5)


def _check_smoothing(cfg, size, phase):
    assert cfg.model.head.label_smooth == 0.1
    if phase == 'student':
        assert cfg.model.token_label.smoothing == 0.1


def _check_amp(cfg, size, phase):
    readme = (REPO / 'README.md').read_text()
    lines = [ln for ln in readme.splitlines()
             if re.search(rf'configs/stl/fan_[tsbl]_{phase}\.py', ln)
             and 'dist_train.sh' in ln]
    assert lines, f'no README command for phase {phase}'
    assert all('--amp' in ln for ln in lines), lines
    assert cfg.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'


def _check_token_label(cfg, size, phase):
    assert cfg.model.head.type == 'stl_mm.TokenLabelHead'
    assert cfg.model.backbone.out_type == 'cls_and_patch'


def _check_cls_with_single_token_label(cfg, size, phase):
    assert cfg.model.head.mode == ('student' if phase == 'student'
                                   else 'labeler')


def _check_cls_weight(cfg, size, phase):
    assert cfg.model.head.cls_weight == 1.0


def _check_dense_weight(cfg, size, phase):
    assert cfg.model.head.dense_weight == 1.0
    assert not cfg.model.head.get('dynamic_dense_weight', False)


def _check_offline_model(cfg, size, phase):
    if phase == 'token_labeler':
        ckpt = cfg.default_hooks.checkpoint
        assert (ckpt.save_best, ckpt.rule) == ('accuracy/top1', 'greater')
        return
    teacher = cfg.model.teacher
    assert teacher.checkpoint == (f'work_dirs/fan_{size}_token_labeler/'
                                  'best_accuracy_top1_epoch_*.pth')
    assert teacher.prefer_ema is True
    labeler = Config.fromfile(teacher.config)
    assert labeler.model.backbone.arch == cfg.model.backbone.arch


def _check_token_labels(cfg, size, phase):
    if phase == 'student':
        assert dict(cfg.model.token_label) == dict(
            method='gumbel', tau=1.0, hard=True, smoothing=0.1)


def _check_cooldown(cfg, size, phase):
    cool = cfg.param_scheduler[2]
    assert (cool['type'], cool['factor'], cool['by_epoch']) == (
        'ConstantLR', 1.0, True)
    assert (cool['begin'], cool['end']) == (351, 360)
    assert cfg.train_cfg.max_epochs == 360


def _check_train_interpolation(cfg, size, phase):
    crop = _train_crop(cfg)
    assert crop['type'] == 'stl_mm.RandomResizedCropAndInterpolation'
    assert crop['interpolation'] == 'random' and crop['backend'] == 'pillow'


def _check_erasing_after_mixing(cfg, size, phase):
    assert not any(t['type'] == 'RandomErasing'
                   for t in _train_pipeline(cfg))
    assert _pre(cfg).type == 'stl_mm.STLDataPreprocessor'
    assert _pre(cfg).erase is not None


def _check_mixing_partner(cfg, size, phase):
    assert _pre(cfg).mix.mix_token_labels is (phase == 'student')
    assert _pre(cfg).mix.get('patch_size') is None  # from the backbone


def _check_eval_metric(cfg, size, phase):
    assert cfg.val_evaluator.type == 'Accuracy'
    assert cfg.model.head.fusion == 'cls'


def _check_eval_transform(cfg, size, phase):
    test = {t['type']: t for t in cfg.test_dataloader.dataset.pipeline}
    assert test['ResizeEdge']['interpolation'] == 'bicubic'
    assert test['ResizeEdge']['edge'] == 'short'


CHECKS = {
    '-b': _check_batch,
    '--sched': _check_sched,
    '--epochs': _check_epochs,
    '--opt': _check_opt,
    '--warmup-lr': _check_warmup_lr,
    '--warmup-epochs': _check_warmup_epochs,
    '--lr': _check_lr,
    '--min-lr': _check_min_lr,
    '--weight-decay': _check_weight_decay,
    '--model-ema': _check_model_ema,
    '--model-ema-decay': _check_model_ema_decay,
    '--aa': _check_aa,
    '--remode': _check_remode,
    '--reprob': _check_reprob,
    '--drop': _check_drop,
    '--drop-path': _check_drop_path,
    '--img-size': _check_img_size,
    '--mixup': _check_mixup,
    '--cutmix': _check_cutmix,
    '--mixup-prob': _check_mixup_prob,
    '--smoothing': _check_smoothing,
    '--amp': _check_amp,
    '--token-label': _check_token_label,
    '--cls-with-single-token-label': _check_cls_with_single_token_label,
    '--cls-weight': _check_cls_weight,
    '--dense-weight': _check_dense_weight,
    '--offline-model': _check_offline_model,
    'token labels, phase 2': _check_token_labels,
    '--cooldown-epochs': _check_cooldown,
    '--train-interpolation': _check_train_interpolation,
    'erasing after mixing': _check_erasing_after_mixing,
    'mixing partner and CutMix box': _check_mixing_partner,
    '--eval-metric': _check_eval_metric,
    'eval transform': _check_eval_transform,
}


def _doc_flags():
    """The first cell of every row of the two flag tables."""
    text = (REPO / 'docs' / 'fidelity.md').read_text()
    flags = []
    for section in ('## Flags of the official commands',
                    '## Defaults the commands rely on'):
        body = text.split(section, 1)[1].split('\n## ', 1)[0]
        rows = [ln for ln in body.splitlines() if ln.startswith('| ')]
        for row in rows[1:]:  # header
            cell = row.split('|')[1].strip()
            match = re.search(r'`(--?[a-z][a-z-]*)', cell)
            if match:
                flags.append(match.group(1))
            elif cell.startswith('('):
                flags.append(cell[1:cell.index(')')])
            else:
                flags.append(cell.split(' (')[0])
    return flags


def test_doc_table_and_checks_list_the_same_flags():
    flags = _doc_flags()
    assert len(flags) == len(set(flags))
    assert set(flags) == set(CHECKS)


@pytest.mark.parametrize('size,phase', RECIPES,
                         ids=[f'fan_{s}_{p}' for s, p in RECIPES])
def test_every_table_row_holds(size, phase):
    cfg = _cfg(size, phase)
    failed = []
    for flag, check in CHECKS.items():
        try:
            check(cfg, size, phase)
        except AssertionError as error:
            failed.append(f'{flag}: {error}')
    assert not failed, '\n'.join(failed)


# ---------------------------------------------------------------------------
# the schedule, simulated with mmengine's schedulers
# ---------------------------------------------------------------------------
def _timm_lr(epoch, lr, warmup, epochs=350, warmup_lr=1e-6, min_lr=1e-6):
    """timm 0.5 CosineLRScheduler (t_in_epochs) + cooldown, closed form."""
    if epoch < warmup:
        return warmup_lr + epoch * (lr - warmup_lr) / warmup
    if epoch >= epochs:
        return min_lr
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * epoch /
                                                        epochs))


def _simulate(cfg, epoch_length=20):
    """lr at the first iteration of every epoch, stepping the configured
    schedulers as mmengine's ParamSchedulerHook does."""
    from mmengine.optim.scheduler import _ParamScheduler  # noqa: F401
    from mmengine.registry import PARAM_SCHEDULERS
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=cfg.optim_wrapper.optimizer.lr)
    schedulers = []
    for s in cfg.param_scheduler:
        s = dict(s)
        cls = PARAM_SCHEDULERS.get(s.pop('type'))
        if s.pop('convert_to_iter_based', False):
            schedulers.append(cls.build_iter_from_epoch(
                opt, epoch_length=epoch_length, **s))
        else:
            schedulers.append(cls(opt, **s))
    lrs = []
    for _ in range(cfg.train_cfg.max_epochs):
        lrs.append(opt.param_groups[0]['lr'])
        for _ in range(epoch_length):
            for s in schedulers:
                if not s.by_epoch:
                    s.step()
        for s in schedulers:
            if s.by_epoch:
                s.step()
    return lrs


@pytest.mark.parametrize('size', ['s', 'b'])
def test_schedule_follows_timm_with_cooldown(size):
    cfg = _cfg(size, 'token_labeler')
    lr, warmup = SIZES[size][2], SIZES[size][3]
    lrs = _simulate(cfg)
    assert len(lrs) == 360
    assert lrs[0] == pytest.approx(1e-6)
    # cooldown: epochs 350..359 exactly at min_lr
    assert lrs[350:] == pytest.approx([1e-6] * 10, rel=1e-9, abs=0)
    worst = max(abs(lrs[e] / _timm_lr(e, lr, warmup) - 1)
                for e in range(warmup, 360))
    warm = max(abs(lrs[e] / _timm_lr(e, lr, warmup) - 1)
               for e in range(warmup))
    print(f'lr at the start of each epoch vs timm: max relative difference '
          f'{worst:.1e} after warm-up, {warm:.1e} during warm-up')
    assert worst < 1e-5 and warm < 2e-2


def test_fan_recipes_cool_down_to_310_epochs():
    cfg = Config.fromfile(
        str(REPO / 'configs/fan/fan-small-12-p4-hybrid_8xb128-310e_in1k.py'))
    lrs = _simulate(cfg)
    assert len(lrs) == 310 and lrs[300:] == pytest.approx([1e-6] * 10)
    assert cfg.model.backbone.drop_path_schedule == 'uniform'
    assert _ema(cfg)['momentum'] == pytest.approx(8e-5)


# ---------------------------------------------------------------------------
# the data preprocessor: one place, and the README's switches work
# ---------------------------------------------------------------------------
ALL_CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py')
                     if '_base_' not in p.parts)


@pytest.mark.parametrize('path', ALL_CONFIGS,
                         ids=[str(p.relative_to(REPO)) for p in ALL_CONFIGS])
def test_preprocessor_lives_inside_the_model(path):
    """mmengine uses a top-level data_preprocessor only when the model has
    none, so `--cfg-options model.data_preprocessor.X=...` on a top-level
    layout builds a bare preprocessor; every config keeps it in `model`."""
    cfg = Config.fromfile(str(path))
    assert 'data_preprocessor' not in cfg, path
    pre = cfg.model.get('data_preprocessor')
    if cfg.model.type in ('ImageClassifier', 'stl_mm.STLClassifier'):
        assert pre and pre.get('type'), path
        assert pre.mean and pre.std, path


def _readme_commands():
    """`tools/dist_train.sh CONFIG N ... --cfg-options ...` lines of the
    README (continuation lines joined)."""
    text = (REPO / 'README.md').read_text().replace('\\\n', ' ')
    return [ln.strip() for ln in text.splitlines()
            if ln.strip().startswith('tools/dist_train.sh configs/stl/')
            and '--cfg-options' in ln]


def _build_from_command(command, teacher_checkpoint=None):
    """What tools/train.py does with the command line: load the config,
    merge --cfg-options, build the model (on the meta device)."""
    from mmengine.registry import MODELS
    argv = shlex.split(command.split('#')[0])
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    parser.add_argument('gpus')
    parser.add_argument('--amp', action='store_true')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv[1:])
    cfg = Config.fromfile(str(REPO / args.config))
    cfg.merge_from_dict(args.cfg_options)
    model_cfg = cfg.model.copy()
    if 'data_preprocessor' in cfg:  # mmengine Runner.build_model
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    if 'teacher' in model_cfg:
        model_cfg.teacher.checkpoint = teacher_checkpoint
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        with warnings.catch_warnings(), torch.device('meta'):
            warnings.simplefilter('ignore')
            return cfg, MODELS.build(model_cfg)


def test_readme_reference_switch_builds_the_full_preprocessor():
    commands = _readme_commands()
    assert any('mix.mix_token_labels=False' in c for c in commands)
    from stl_mm.models.utils import BatchRandomErasing, STLDataPreprocessor
    for command in commands:
        cfg, model = _build_from_command(command)
        pre = model.data_preprocessor
        assert isinstance(pre, STLDataPreprocessor), command
        assert pre._enable_normalize and pre.to_rgb, command
        assert isinstance(pre.erase, BatchRandomErasing), command
        assert pre.pass_mix and pre.mix.patch_size == 16, command
        assert cfg.model.data_preprocessor.mean == [123.675, 116.28, 103.53]
        if 'mix_token_labels=False' in command:
            assert pre.mix.mix_token_labels is False
            assert pre.mix.mixup_alpha == 0.8 and pre.mix.cutmix_alpha == 1.0


def test_phase_one_preprocessor_option_keeps_normalisation():
    cfg, model = _build_from_command(
        'tools/dist_train.sh configs/stl/fan_s_token_labeler.py 8 --amp '
        '--cfg-options model.data_preprocessor.pad_size_divisor=16')
    pre = model.data_preprocessor
    assert pre.pad_size_divisor == 16 and pre._enable_normalize
    assert pre.mix.mix_token_labels is False and pre.erase.prob == 0.3


def test_top_level_preprocessor_option_is_refused_by_the_tools():
    """`--cfg-options data_preprocessor.X=...` (the old layout's key) would
    now be ignored by mmengine: tools/train.py refuses it in one line."""
    import subprocess
    import sys

    from stl_mm.engine import check_preprocessor_layout
    cfg = Config.fromfile(str(STL / 'demo' / 'fan_demo_student.py'))
    check_preprocessor_layout(cfg)  # the config itself is fine
    cfg.merge_from_dict({'data_preprocessor.mix.prob': 0.5})
    with pytest.raises(ValueError, match=r'model\.data_preprocessor\.mix'):
        check_preprocessor_layout(cfg)
    out = subprocess.run(
        [sys.executable, 'tools/train.py',
         'configs/stl/demo/fan_demo_student.py', '--cfg-options',
         'data_preprocessor.mix.prob=0.5'],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith('error')]
    assert len(errors) == 1 and 'model.data_preprocessor.mix' in errors[0]
    assert 'Traceback' not in out.stderr
