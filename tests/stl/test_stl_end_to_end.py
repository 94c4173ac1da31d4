"""STL phase 1 then phase 2 through tools/train.py on generated images, with
the real mmengine Runner: single process, 2 CPU processes, and resume."""
import pytest
import torch

from stl_mm.testing import REPO, demo_data_opts, free_port, run_tool

LABELER = REPO / 'configs/stl/demo/fan_demo_token_labeler.py'
STUDENT = REPO / 'configs/stl/demo/fan_demo_student.py'
ONE_EPOCH = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
             'default_hooks.checkpoint.interval=1']
# as the ImageNet phase-1 recipes (configs/_base_/imagenet_ema_runtime.py)
SAVE_BEST = ['default_hooks.checkpoint.save_best=accuracy/top1',
             'default_hooks.checkpoint.rule=greater']


@pytest.fixture(scope='module')
def teacher_checkpoint(demo_root, tmp_path_factory):
    work = tmp_path_factory.mktemp('phase1')
    run_tool(['tools/train.py', str(LABELER), '--work-dir', str(work),
              '--cfg-options', *demo_data_opts(demo_root), *ONE_EPOCH,
              *SAVE_BEST])
    checkpoint = work / 'epoch_1.pth'
    assert 'ema_state_dict' in torch.load(checkpoint, weights_only=False)
    return checkpoint


def test_phase1_best_ema_checkpoint_is_the_default_kind_of_teacher(
        teacher_checkpoint):
    """save_best keeps best_accuracy_top1_epoch_<N>.pth (validated on the
    EMA weights, which it holds); a student naming it by the glob of the
    ImageNet configs loads its EMA weights."""
    from mmengine.config import Config

    from stl_mm.registry import MODELS
    from stl_mm.utils import register_all_modules
    work = teacher_checkpoint.parent
    best = sorted(work.glob('best_accuracy_top1_epoch_*.pth'))
    assert [p.name for p in best] == ['best_accuracy_top1_epoch_1.pth']
    saved = torch.load(best[0], weights_only=False)
    assert 'ema_state_dict' in saved
    assert 'best_score' in saved['message_hub']['runtime_info']
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(str(STUDENT))
    cfg.model.teacher.checkpoint = str(work / 'best_accuracy_top1_epoch_*.pth')
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        student = MODELS.build(cfg.model)
    # EMAHook layout: state_dict holds the EMA weights
    ema = saved['state_dict']
    for k, v in student.teacher.model.state_dict().items():
        assert torch.equal(v, ema[k]), k


def _student_opts(demo_root, teacher_checkpoint):
    return [*demo_data_opts(demo_root), *ONE_EPOCH,
            f'model.teacher.checkpoint={teacher_checkpoint}']


def _assert_student_only(checkpoint_path):
    checkpoint = torch.load(checkpoint_path, weights_only=False)
    for section in ('state_dict', 'ema_state_dict'):
        keys = checkpoint[section].keys()
        assert not [k for k in keys if 'teacher' in k], section
        assert any(k.startswith(('backbone.', 'module.backbone.'))
                   for k in keys)


def test_phase2_trains_and_evaluates_without_teacher_in_checkpoint(
        demo_root, teacher_checkpoint, tmp_path):
    work = tmp_path / 'phase2'
    out = run_tool(['tools/train.py', str(STUDENT), '--work-dir', str(work),
                    '--cfg-options',
                    *_student_opts(demo_root, teacher_checkpoint)])
    log = out.stdout + out.stderr
    assert 'loss_dense' in log and 'accuracy/top1' in log
    _assert_student_only(work / 'epoch_1.pth')

    # the student's checkpoint evaluates like any classifier checkpoint,
    # with the fusion rule chosen on the command line
    metrics = tmp_path / 'metrics.json'
    run_tool(['tools/test.py', str(STUDENT), str(work / 'epoch_1.pth'),
              '--work-dir', str(work), '--out', str(metrics),
              '--cfg-options', *_student_opts(demo_root, teacher_checkpoint),
              'model.head.fusion=cls_plus_max'])
    assert metrics.exists()


def test_phase2_resume_reloads_the_teacher(demo_root, teacher_checkpoint,
                                           tmp_path):
    work = tmp_path / 'resume'
    opts = _student_opts(demo_root, teacher_checkpoint)
    run_tool(['tools/train.py', str(STUDENT), '--work-dir', str(work),
              '--cfg-options', *opts])
    out = run_tool(['tools/train.py', str(STUDENT), '--work-dir', str(work),
                    '--resume', '--cfg-options', *opts,
                    'train_cfg.max_epochs=2'])
    log = out.stdout + out.stderr
    assert 'resumed' in log.lower()
    assert str(teacher_checkpoint) in log  # the teacher was loaded again
    second = torch.load(work / 'epoch_2.pth', weights_only=False)
    assert second['meta']['epoch'] == 2
    _assert_student_only(work / 'epoch_2.pth')


def test_phase2_two_cpu_processes(demo_root, teacher_checkpoint, tmp_path):
    work = tmp_path / 'dist'
    run_tool(['tools/dist_train.sh', str(STUDENT), '2', '--work-dir',
              str(work), '--cfg-options',
              *_student_opts(demo_root, teacher_checkpoint),
              'train_dataloader.batch_size=8'],
             env=dict(PORT=str(free_port())))
    _assert_student_only(work / 'epoch_1.pth')
