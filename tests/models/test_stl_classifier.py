"""STLClassifier: the frozen teacher stays frozen, out of the optimizer, the
checkpoints and EMA copies; token labels follow the mixing; phase 1 and 2
train end to end on tiny models."""
import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.hooks import EMAHook
from mmengine.model import BaseModule
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

from stl_mm.models.classifiers import FrozenTeacher
from stl_mm.models.classifiers.stl_classifier import (cpu_has_native_bf16,
                                                      teacher_autocast_dtype)
from stl_mm.registry import MODELS
from stl_mm.testing import FIXTURES, NO_FIXTURES, synth_state_dict
from stl_mm.utils import register_all_modules

K = 5
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
TINY_FAN = dict(type='stl_mm.FAN', out_type='cls_and_patch',
                arch=dict(embed_dims=32, depth=1, num_heads=2, stem='conv'))


@MODELS.register_module(force=True)
class ToyTokenBackbone(BaseModule):
    """Patchify conv + BatchNorm; returns ((cls, patch),) as FAN does."""

    def __init__(self, embed_dims=16, patch_size=16):
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dims, patch_size, patch_size)
        self.bn = nn.BatchNorm2d(embed_dims)
        self.cls = nn.Linear(embed_dims, embed_dims)

    def forward(self, x):
        patch = self.bn(self.proj(x)).flatten(2).transpose(1, 2)
        return ((self.cls(patch.mean(1)), patch), )


@pytest.fixture(autouse=True, scope='module')
def _scope():
    register_all_modules()


@pytest.fixture(autouse=True)
def _threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _head(mode='student', **kwargs):
    return dict(type='stl_mm.TokenLabelHead', num_classes=K, in_channels=16,
                mode=mode, **kwargs)


def _labeler_cfg(backbone=None, **head):
    return dict(type='ImageClassifier',
                backbone=backbone or dict(type='stl_mm.ToyTokenBackbone'),
                head=_head('labeler', **head))


def _preprocessor(mix=None):
    return dict(type='stl_mm.STLDataPreprocessor', mean=MEAN, std=STD,
                to_rgb=True, num_classes=K,
                mix=dict(patch_size=16, **mix) if mix is not None else None)


def _save_teacher(tmp_path, labeler=None, ema=False):
    labeler = labeler or MODELS.build(_labeler_cfg())
    labeler.init_weights()
    # phase-1 statistics that must survive: non-trivial BN buffers
    labeler.backbone.bn.running_mean.uniform_(-1, 1)
    labeler.backbone.bn.running_var.uniform_(0.5, 2)
    state = labeler.state_dict()
    ckpt = dict(meta=dict(epoch=3), state_dict=state)
    if ema:  # EMAHook layout: state_dict = EMA weights, raw in ema_state_dict
        ckpt['ema_state_dict'] = {
            'module.' + k: torch.zeros_like(v) if v.is_floating_point() else v
            for k, v in state.items()}
        ckpt['ema_state_dict']['steps'] = torch.tensor(7)
    path = tmp_path / 'labeler.pth'
    torch.save(ckpt, path)
    return path, state


def _student(tmp_path, student_backbone=None, teacher_backbone=None,
             mix=None, teacher_amp='auto', **kwargs):
    path, state = _save_teacher(
        tmp_path, MODELS.build(_labeler_cfg(teacher_backbone)))
    cfg = dict(type='stl_mm.STLClassifier',
               backbone=student_backbone or dict(
                   type='stl_mm.ToyTokenBackbone'),
               head=_head(),
               teacher=dict(config=_labeler_cfg(teacher_backbone),
                            checkpoint=str(path), amp=teacher_amp),
               data_preprocessor=_preprocessor(mix), **kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model, state


def _data(B=4, size=32, seed=0, teacher=True):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, 256, (B, 3, size, size), generator=g,
                           dtype=torch.uint8)
    samples = []
    for i in range(B):
        s = DataSample().set_gt_label(i % K)
        if teacher:
            s.set_field(torch.randint(0, 256, (3, size, size), generator=g,
                                      dtype=torch.uint8), 'teacher_img')
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def _teacher_tensors(model):
    t = model.teacher.model
    return {k: v.clone() for k, v in list(t.state_dict().items())}


def test_teacher_is_loaded_frozen_and_outside_the_module_tree(tmp_path):
    model, state = _student(tmp_path)
    teacher = model.teacher
    assert isinstance(teacher, FrozenTeacher)
    for k, v in teacher.model.state_dict().items():
        assert torch.equal(v, state[k]), k
    ids = {id(p) for p in model.parameters()}
    assert not any(id(p) in ids for p in teacher.parameters())
    assert all(not p.requires_grad for p in teacher.parameters())
    assert not any(k.startswith(('teacher', '_teacher'))
                   for k in model.state_dict())
    assert all(not isinstance(m, FrozenTeacher) for m in model.modules())
    model.train()
    assert model.training and not teacher.training
    assert not any(m.training for m in teacher.modules())
    teacher.train()
    assert not teacher.training
    # device/dtype moves of the student move the teacher
    model.double()
    assert next(teacher.parameters()).dtype == torch.float64
    model.float()
    assert next(teacher.parameters()).dtype == torch.float32


def test_teacher_unchanged_after_optimizer_steps(tmp_path):
    model, _ = _student(tmp_path, mix=dict())
    before = _teacher_tensors(model)
    student_before = copy.deepcopy(model.state_dict())
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-2,
                                           weight_decay=0.05))
    model.train()
    for step in range(3):
        log = model.train_step(_data(seed=step), optim)
        assert torch.isfinite(log['loss'])
    for k, v in _teacher_tensors(model).items():
        assert torch.equal(v, before[k]), f'teacher {k} changed'
    changed = [k for k, v in model.state_dict().items()
               if not torch.equal(v, student_before[k])]
    assert 'backbone.bn.running_mean' in changed  # the student does train
    assert 'head.aux_fc.weight' in changed
    groups = [p for g in optim.optimizer.param_groups for p in g['params']]
    assert not {id(p) for p in groups} & \
        {id(p) for p in model.teacher.parameters()}


def test_ema_copy_and_checkpoint_exclude_the_teacher(tmp_path):
    model, _ = _student(tmp_path)
    hook = EMAHook(momentum=0.5)
    runner = SimpleNamespace(model=model)
    hook.before_run(runner)  # deep-copies the model into an EMA wrapper
    ema = hook.ema_model
    assert ema.module.teacher is model.teacher  # shared, not duplicated
    ema.update_parameters(model)
    checkpoint = dict(state_dict=model.state_dict())
    hook.before_save_checkpoint(runner, checkpoint)
    for part in ('state_dict', 'ema_state_dict'):
        assert checkpoint[part]
        assert not any('teacher' in k for k in checkpoint[part]), part
    deep = copy.deepcopy(model)
    assert deep.teacher is model.teacher
    # resuming: a fresh model accepts the student's state dict strictly
    fresh, _ = _student(tmp_path)
    fresh.load_state_dict(model.state_dict(), strict=True)


def test_ema_checkpoint_of_phase_one_is_loaded(tmp_path):
    path, state = _save_teacher(tmp_path, ema=True)
    common = dict(type='stl_mm.STLClassifier',
                  backbone=dict(type='stl_mm.ToyTokenBackbone'),
                  head=_head(), data_preprocessor=_preprocessor())
    model = MODELS.build(dict(common, teacher=dict(
        config=_labeler_cfg(), checkpoint=str(path))))
    for k, v in model.teacher.model.state_dict().items():
        assert torch.equal(v, state[k]), k  # EMA weights (state_dict)
    raw = MODELS.build(dict(common, teacher=dict(
        config=_labeler_cfg(), checkpoint=str(path), prefer_ema=False)))
    assert float(raw.teacher.model.head.fc.weight.abs().sum()) == 0.
    # the teacher config may also be a (phase-1) config file
    cfg_file = tmp_path / 'phase1_cfg.py'
    cfg_file.write_text(f'model = {_labeler_cfg()!r}\n')
    from_file = MODELS.build(dict(common, teacher=dict(
        config=str(cfg_file), checkpoint=str(path))))
    for k, v in from_file.teacher.model.state_dict().items():
        assert torch.equal(v, state[k]), k
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': {'backbone.nope': torch.zeros(1)}}, bad)
    with pytest.raises(ValueError, match='does not fit the teacher'):
        MODELS.build(dict(common, teacher=dict(config=_labeler_cfg(),
                                               checkpoint=str(bad))))


def test_token_grid_mismatch_is_an_error_at_build_time(tmp_path):
    with pytest.raises(ValueError, match='token grids differ'):
        _student(tmp_path, teacher_backbone=dict(
            type='stl_mm.ToyTokenBackbone', patch_size=8))


def _capture_token_targets(model):
    """Record the token targets the head's loss receives."""
    captured = {}
    head_loss = model.head.loss

    def head_spy(feats, samples, token_targets=None):
        captured['targets'] = token_targets
        return head_loss(feats, samples, token_targets=token_targets)

    object.__setattr__(model.head, 'loss', head_spy)
    return captured


def test_loss_uses_the_unmixed_teacher_view_and_mixes_its_labels(tmp_path):
    model, _ = _student(tmp_path, mix=dict(mixup_alpha=0., cutmix_alpha=1.),
                        token_label=dict(method='argmax', smoothing=0.1))
    seen = {}
    teacher_forward = model.teacher.forward

    def spy(x):
        seen['x'] = x.clone()
        seen['logits'] = teacher_forward(x)
        return seen['logits']

    object.__setattr__(model.teacher, 'forward', spy)
    captured = _capture_token_targets(model)
    data = _data(B=4, size=64)
    teacher_raw = torch.stack([s.teacher_img for s in data['data_samples']])
    np.random.seed(1)
    torch.manual_seed(1)
    batch = model.data_preprocessor(data, training=True)
    model(**batch, mode='loss')
    expected_view = (teacher_raw.float().flip(1) -
                     torch.tensor(MEAN).view(1, 3, 1, 1)) / \
        torch.tensor(STD).view(1, 3, 1, 1)
    torch.testing.assert_close(seen['x'], expected_view)
    labels = torch.nn.functional.one_hot(seen['logits'].argmax(-1), K) * \
        0.9 + 0.1 / K
    # one batch-level record, nothing scattered into the data samples
    mix = batch['mix']
    assert mix.mode == 'cutmix' and mix.mix_token_labels
    assert not any('mix_index' in s for s in batch['data_samples'])
    index = mix.perm
    assert torch.equal(index, torch.arange(3, -1, -1))  # reversed batch
    weight = mix.token_weight(model.token_grid((64, 64))).flatten(1)[..., None]
    assert weight.shape[1] == 16
    expected = labels * (1 - weight) + labels[index] * weight
    torch.testing.assert_close(captured['targets'], expected.float())


def test_reference_mode_leaves_token_labels_unmixed(tmp_path):
    model, _ = _student(tmp_path, mix=dict(mixup_alpha=0., cutmix_alpha=1.,
                                           mix_token_labels=False),
                        token_label=dict(method='argmax', smoothing=0.))
    captured = _capture_token_targets(model)
    data = _data(B=4, size=64)
    np.random.seed(1)
    batch = model.data_preprocessor(data, training=True)
    assert batch['mix'].mode == 'cutmix'
    model(**batch, mode='loss')
    labels = torch.nn.functional.one_hot(
        model.teacher(batch['teacher_inputs']).argmax(-1), K).float()
    torch.testing.assert_close(captured['targets'], labels)


def test_partial_preprocessor_dict_is_refused(tmp_path):
    """What `--cfg-options model.data_preprocessor.X=...` makes of a config
    without a model-level preprocessor: a dict without a type."""
    path, _ = _save_teacher(tmp_path)
    with pytest.raises(ValueError, match='has no type.*normalisation'):
        MODELS.build(dict(
            type='stl_mm.STLClassifier',
            backbone=dict(type='stl_mm.ToyTokenBackbone'), head=_head(),
            teacher=dict(config=_labeler_cfg(), checkpoint=str(path)),
            data_preprocessor=dict(mix=dict(mix_token_labels=False))))


def test_teacher_checkpoint_glob_needs_exactly_one_match(tmp_path):
    path, state = _save_teacher(tmp_path)
    best = tmp_path / 'best_accuracy_top1_epoch_7.pth'
    path.rename(best)
    pattern = str(tmp_path / 'best_accuracy_top1_epoch_*.pth')
    common = dict(type='stl_mm.STLClassifier',
                  backbone=dict(type='stl_mm.ToyTokenBackbone'),
                  head=_head(), data_preprocessor=_preprocessor())
    model = MODELS.build(dict(common, teacher=dict(
        config=_labeler_cfg(), checkpoint=pattern)))
    for k, v in model.teacher.model.state_dict().items():
        assert torch.equal(v, state[k]), k
    (tmp_path / 'best_accuracy_top1_epoch_9.pth').write_bytes(
        best.read_bytes())
    with pytest.raises(ValueError, match='Several teacher checkpoints'):
        MODELS.build(dict(common, teacher=dict(config=_labeler_cfg(),
                                               checkpoint=pattern)))
    with pytest.raises(FileNotFoundError, match='No teacher checkpoint'):
        MODELS.build(dict(common, teacher=dict(
            config=_labeler_cfg(), checkpoint=str(tmp_path / 'x_*.pth'))))


def test_mixed_batch_without_teacher_view_is_refused(tmp_path):
    model, _ = _student(tmp_path, mix=dict(mixup_alpha=0.8, cutmix_alpha=0.))
    np.random.seed(0)
    torch.manual_seed(0)
    batch = model.data_preprocessor(_data(teacher=False), training=True)
    assert 'teacher_inputs' not in batch
    with pytest.raises(ValueError, match='teacher view'):
        model(**batch, mode='loss')
    # unmixed batches may use the student view for the teacher
    model2, _ = _student(tmp_path)
    batch = model2.data_preprocessor(_data(teacher=False), training=True)
    assert 'loss_dense' in model2(**batch, mode='loss')


def test_teacher_bf16_autocast_on_cpu_gives_float32_logits(tmp_path):
    model, _ = _student(tmp_path)
    model.teacher.amp_dtype = 'bf16'
    logits = model.teacher(torch.randn(2, 3, 32, 32))
    assert logits.dtype == torch.float32 and logits.shape == (2, 4, K)


def test_teacher_precision_by_device():
    bf16_cpu = torch.bfloat16 if cpu_has_native_bf16() else None
    cases = {('auto', 'cuda'): torch.float16, ('auto', 'cpu'): bf16_cpu,
             ('fp16', 'cuda'): torch.float16, ('fp16', 'cpu'): None,
             ('bf16', 'cuda'): torch.bfloat16, ('bf16', 'cpu'): torch.bfloat16,
             (None, 'cuda'): None, (None, 'cpu'): None}
    for (amp, device), dtype in cases.items():
        assert teacher_autocast_dtype(amp, device) is dtype, (amp, device)


def test_teacher_default_precision_is_auto_and_bad_value_is_refused(
        tmp_path):
    model, _ = _student(tmp_path)
    assert model.teacher.amp_dtype == 'auto'
    with pytest.raises(ValueError, match="teacher amp must be one of.*'auto'"):
        _student(tmp_path, teacher_amp='fp8')


@pytest.mark.skipif(not cpu_has_native_bf16(),
                    reason='this CPU has no native bf16: auto runs float32')
def test_teacher_auto_precision_runs_bf16_matmuls_on_this_cpu(tmp_path):
    model, _ = _student(tmp_path)
    seen = []
    hook = model.teacher.model.backbone.proj.register_forward_hook(
        lambda module, args, out: seen.append(out.dtype))
    logits = model.teacher(torch.randn(2, 3, 32, 32))
    hook.remove()
    assert seen == [torch.bfloat16] and logits.dtype == torch.float32


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=NO_FIXTURES)
def test_bf16_teacher_token_labels_match_float32_upstream_outputs():
    """The reduced-precision teacher on upstream-format weights: its token
    logits stay close to the float32 upstream reference and its token
    labels (argmax, and Gumbel labels under one seed) mostly agree."""
    import json

    from stl_mm.models.utils import upstream_to_classifier
    from stl_mm.models.utils.token_labels import generate_token_labels
    variant = 'fan_tiny_8_p4_hybrid_token'
    fixture = json.loads((FIXTURES / f'{variant}.json').read_text())
    probe = next(p for p in fixture['probes']
                 if tuple(p['input_shape'][2:]) == (224, 224))
    labeler = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='stl_mm.FAN', arch=variant,
                      out_type='cls_and_patch'),
        head=dict(type='stl_mm.TokenLabelHead', num_classes=1000,
                  in_channels=192, mode='labeler')))
    labeler.load_state_dict(
        upstream_to_classifier(synth_state_dict(fixture['keys'],
                                                probe['seed'])))
    rng = np.random.default_rng(probe['seed'] + 1000)
    inputs = torch.from_numpy(
        rng.standard_normal(probe['input_shape']).astype(np.float32))
    ref = torch.from_numpy(np.load(FIXTURES / probe['outputs'])['aux'])
    logits = FrozenTeacher(labeler, amp_dtype='bf16')(inputs)
    err = (logits - ref).abs()
    print(f'bf16 teacher vs float32 upstream: max abs {err.max():.4f}, '
          f'mean abs {err.mean():.4f} (logit std {ref.std():.3f})')
    assert err.mean() < 0.05 * ref.std() and err.max() < ref.std()
    argmax_agree = (logits.argmax(-1) == ref.argmax(-1)).float().mean()
    labels = []
    for lg in (logits, ref):
        torch.manual_seed(0)
        labels.append(generate_token_labels(lg, method='gumbel', hard=True,
                                            smoothing=0.).argmax(-1))
    gumbel_agree = (labels[0] == labels[1]).float().mean()
    print(f'token labels agree: argmax {argmax_agree:.3f}, Gumbel '
          f'{gumbel_agree:.3f}')
    assert argmax_agree > 0.9 and gumbel_agree > 0.9


def test_predict_fusion_from_config(tmp_path):
    model, _ = _student(tmp_path)
    model.eval()
    data = _data(teacher=False)
    preds = model.val_step(data)
    batch = model.data_preprocessor(data)
    cls_logits, token_logits = model(batch['inputs'], mode='tensor')
    torch.testing.assert_close(torch.stack([p.pred_score for p in preds]),
                               cls_logits.softmax(1))
    model.head.fusion = 'cls_plus_max'
    preds = model.val_step(data)
    torch.testing.assert_close(
        torch.stack([p.pred_score for p in preds]),
        (cls_logits + 0.5 * token_logits.max(1).values).softmax(1))


def test_phase1_labeler_trains_with_token_mix():
    """Phase 1 is a plain ImageClassifier: the preprocessor mixes, no
    teacher view is handed on, the labeler head uses the mixed targets."""
    model = MODELS.build(dict(_labeler_cfg(),
                              data_preprocessor=_preprocessor(dict())))
    model.init_weights()
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))
    np.random.seed(0)
    torch.manual_seed(0)
    log = model.train_step(_data(teacher=False), optim)
    assert set(log) == {'loss', 'loss_cls', 'loss_dense'}
    assert torch.isfinite(log['loss'])


def _overfit(model, steps, data):
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=2e-3))
    model.train()
    losses = []
    for _ in range(steps):
        losses.append(float(model.train_step(copy.deepcopy(data),
                                             optim)['loss']))
    return losses


def test_phase1_labeler_and_phase2_student_overfit_tiny_fan(tmp_path):
    torch.manual_seed(0)
    np.random.seed(0)
    data = _data(B=4, size=32)
    # phase 1: plain ImageClassifier + TokenLabelHead(labeler) + TokenMix
    labeler_cfg = dict(type='ImageClassifier', backbone=TINY_FAN,
                       head=dict(_head('labeler'), in_channels=32))
    labeler = MODELS.build(
        dict(labeler_cfg, data_preprocessor=_preprocessor()))
    labeler.init_weights()
    phase1_data = _data(B=4, size=32, teacher=False)  # no teacher view
    losses = _overfit(labeler, 25, phase1_data)
    assert losses[-1] < 0.5 * losses[0], losses
    path = tmp_path / 'phase1.pth'
    torch.save(dict(state_dict=labeler.state_dict()), path)

    # phase 2: STL student learning from the phase-1 teacher
    student = MODELS.build(dict(
        type='stl_mm.STLClassifier', backbone=TINY_FAN,
        head=dict(_head('student'), in_channels=32),
        teacher=dict(config=labeler_cfg, checkpoint=str(path)),
        token_label=dict(method='argmax'),
        data_preprocessor=_preprocessor()))
    student.init_weights()
    before = _teacher_tensors(student)
    losses = _overfit(student, 25, data)
    assert losses[-1] < 0.5 * losses[0], losses
    for k, v in _teacher_tensors(student).items():
        assert torch.equal(v, before[k]), k
