"""Faults and bad input through the real tools/train.py and tools/test.py:
exact resume after a kill, auto-resume past a broken checkpoint, one work
dir per live run, and one-line errors (exit 2) for broken checkpoints,
images, labels, teachers, work dirs and option typos.

The kill/resume comparisons run the tools as subprocesses; the error cases
run them in this process (``runpy``, the same code path: argument parsing,
``friendly_errors``, a real Runner) to save the import time of a process
per case.
"""
import fcntl
import os
import runpy
import shutil
import sys
import textwrap
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from stl_mm.testing import DEMO_CLS_CONFIG, REPO, demo_data_opts, run_tool

STUDENT = REPO / 'configs/stl/demo/fan_demo_student.py'
LABELER = REPO / 'configs/stl/demo/fan_demo_token_labeler.py'
BASELINE = REPO / 'configs/stl/demo/fan_demo_baseline.py'


def run_inprocess(args, capsys, monkeypatch):
    """Run ``tools/<script>`` as ``__main__`` here; (exit code, stderr).

    Each run gets its own experiment name: mmengine keys its logger,
    visualizer and scope instances by it (a timestamp, to the second, by
    default).
    """
    script = str(REPO / args[0])
    args = [*map(str, args[1:])]
    if '--cfg-options' in args:
        args.append(f'experiment_name=t{uuid.uuid4().hex}')
    monkeypatch.setattr(sys, 'argv', [script, *args])
    monkeypatch.setenv('STL_MM_DEBUG', '')
    capsys.readouterr()
    try:
        runpy.run_path(script, run_name='__main__')
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def one_line_error(code, err, *needles):
    assert code == 2, err[-3000:]
    assert err.startswith('error: ') and 'Traceback' not in err, err[-3000:]
    for needle in needles:
        assert str(needle) in err, (needle, err[-3000:])


def _train_opts(root, workers=0):
    """Data roots for the three loaders; the train loader with
    ``workers`` non-persistent worker processes."""
    opts = demo_data_opts(root)
    return [o for o in opts if not o.startswith('train_dataloader.n') and
            not o.startswith('train_dataloader.p')] + [
                f'train_dataloader.num_workers={workers}',
                'train_dataloader.persistent_workers=False']


def _log_text(work_dir):
    return '\n'.join(p.read_text() for p in Path(work_dir).rglob('*.log'))


# ---------------------------------------------------------------------------
# kill and resume
# ---------------------------------------------------------------------------
KILL_HOOK = '''
import os
import signal

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class KillAfterEpochHook(Hook):
    """SIGKILL the run after the checkpoint of ``epoch`` is written, before
    it is validated (as a crash or a preemption would)."""

    priority = 'LOWEST'  # after CheckpointHook

    def __init__(self, epoch):
        self.epoch = epoch

    def after_train_epoch(self, runner):
        if runner.epoch + 1 == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)
'''


def test_kill_resume_is_bit_exact_and_skips_broken_checkpoints(
        demo_root, tmp_path):
    exact = tmp_path / 'exact.py'
    exact.write_text(textwrap.dedent(f"""
        _base_ = ['{DEMO_CLS_CONFIG}']
        train_dataloader = dict(batch_size=8)
        train_cfg = dict(max_epochs=3, val_interval=1)
        default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3),
                             logger=dict(interval=1))
        randomness = dict(seed=0, deterministic=True)
    """))
    (tmp_path / 'kill_hook.py').write_text(KILL_HOOK)
    killed = tmp_path / 'killed.py'
    killed.write_text(textwrap.dedent("""
        _base_ = ['./exact.py']
        custom_imports = dict(imports=['kill_hook'])
        custom_hooks = [dict(type='KillAfterEpochHook', epoch=2)]
    """))
    # one worker process: augmentation runs outside the main process
    opts = ['--cfg-options', *_train_opts(demo_root, workers=1)]
    env = dict(PYTHONPATH=f'{tmp_path}{os.pathsep}{REPO}')
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    run_tool(['tools/train.py', str(exact), '--work-dir', str(straight),
              *opts], env=env)
    out = run_tool(['tools/train.py', str(killed), '--work-dir',
                    str(resumed), *opts], env=env, check=False)
    assert out.returncode == -9, out.stderr[-3000:]
    assert (resumed / 'epoch_2.pth').is_file()
    assert not (resumed / 'epoch_3.pth').exists()
    # the killed run's lock died with it; the resumed run may start
    out = run_tool(['tools/train.py', str(exact), '--work-dir', str(resumed),
                    '--resume', *opts], env=env)
    assert 'resumed epoch: 2' in out.stdout + out.stderr

    def weights(work_dir):
        return torch.load(work_dir / 'epoch_3.pth',
                          weights_only=False)['state_dict']

    reference = weights(straight)
    assert reference.keys() == weights(resumed).keys()
    for key, value in weights(resumed).items():
        assert torch.equal(value, reference[key]), key
    # the three epochs drew different augmentations (worker seeds per epoch)
    assert not torch.equal(
        torch.load(straight / 'epoch_1.pth', weights_only=False)[
            'state_dict']['head.fc.weight'], reference['head.fc.weight'])

    # auto-resume with a truncated newest checkpoint: falls back to epoch 2
    # with a warning naming the broken file, and retrains epoch 3 exactly
    broken = tmp_path / 'broken'
    shutil.copytree(straight, broken)
    data = (broken / 'epoch_3.pth').read_bytes()
    (broken / 'epoch_3.pth').write_bytes(data[:len(data) // 3])
    out = run_tool(['tools/train.py', str(exact), '--work-dir', str(broken),
                    '--resume', *opts], env=env)
    log = out.stdout + out.stderr
    assert 'skips 1 broken checkpoint' in log
    assert f'{broken / "epoch_3.pth"}' in log and 'truncated' in log
    assert 'resumed epoch: 2' in log
    for key, value in weights(broken).items():
        assert torch.equal(value, reference[key]), key


# ---------------------------------------------------------------------------
# work dir, resume and option errors
# ---------------------------------------------------------------------------
def test_work_dir_resume_and_option_errors(demo_root, tmp_path, capsys,
                                           monkeypatch):
    opts = ['--cfg-options', *demo_data_opts(demo_root),
            'train_cfg.max_epochs=1']
    train = ['tools/train.py', DEMO_CLS_CONFIG]

    a_file = tmp_path / 'a_file'
    a_file.write_text('x')
    code, err = run_inprocess([*train, '--work-dir', a_file, *opts], capsys,
                              monkeypatch)
    one_line_error(code, err, a_file, 'is a file')

    missing = tmp_path / 'typo_dir'
    code, err = run_inprocess([*train, '--work-dir', missing, '--resume',
                               *opts], capsys, monkeypatch)
    one_line_error(code, err, missing, 'does not exist', '--resume')
    assert not missing.exists()

    code, err = run_inprocess([*train, '--work-dir', tmp_path / 'w', *opts,
                               'train_cfg.max_epoch=1'], capsys, monkeypatch)
    one_line_error(code, err, 'train_cfg.max_epoch', 'max_epochs')

    code, err = run_inprocess([*train, '--work-dir', tmp_path / 'w', *opts,
                               'model.backbone.foo_bar=0.1'], capsys,
                              monkeypatch)
    one_line_error(code, err, "'foo_bar'", 'FAN')

    # another live run holds the work dir (here: this process)
    busy = tmp_path / 'busy'
    busy.mkdir()
    with open(busy / '.train.lock', 'w') as lock:
        lock.write('pid 1234 on elsewhere')
        lock.flush()
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, err = run_inprocess([*train, '--work-dir', busy, *opts],
                                  capsys, monkeypatch)
    one_line_error(code, err, 'Another training is running', busy,
                   'pid 1234 on elsewhere')
    assert not list(busy.glob('*.pth'))

    # an explicit --resume file that is truncated
    empty_ckpt = tmp_path / 'epoch_9.pth'
    empty_ckpt.write_bytes(b'')
    code, err = run_inprocess([*train, '--work-dir', tmp_path / 'w2',
                               '--resume', empty_ckpt, *opts], capsys,
                              monkeypatch)
    one_line_error(code, err, empty_ckpt, 'empty (0 bytes)')

    # --resume on an existing work dir without checkpoints: warns and
    # starts from scratch
    from mmengine.config import Config

    from stl_mm.engine.resume import resolve_auto_resume
    cfg = Config(dict(resume=True, load_from=None, work_dir=str(busy)))
    resolve_auto_resume(cfg)
    assert cfg.resume is False and cfg.load_from is None


# ---------------------------------------------------------------------------
# data: labels, class counts, broken and odd-sized images
# ---------------------------------------------------------------------------
def _copy_demo(demo_root, dst):
    shutil.copytree(demo_root / 'cls', dst)
    return dst


def _opts_for(root, *extra):
    return ['--cfg-options', *demo_data_opts(root.parent, root.name), *extra]


def test_label_and_image_errors(demo_root, tmp_path, capsys, monkeypatch):
    train = ['tools/train.py', DEMO_CLS_CONFIG]

    bad_labels = _copy_demo(demo_root, tmp_path / 'labels')
    lines = (bad_labels / 'meta/train.txt').read_text().splitlines()
    lines[-1] = lines[-1].rsplit(' ', 1)[0] + ' 7'
    (bad_labels / 'meta/train.txt').write_text('\n'.join(lines) + '\n')
    code, err = run_inprocess([*train, '--work-dir', tmp_path / 'w1',
                               *_opts_for(bad_labels)], capsys, monkeypatch)
    one_line_error(code, err, 'label 7', 'num_classes=4',
                   lines[-1].split()[0])

    empty_png = _copy_demo(demo_root, tmp_path / 'empty_png')
    victim = (empty_png / 'meta/train.txt').read_text().split()[0]
    (empty_png / 'train' / victim).write_bytes(b'')
    code, err = run_inprocess([*train, '--work-dir', tmp_path / 'w2',
                               *_opts_for(empty_png)], capsys, monkeypatch)
    one_line_error(code, err, victim, 'empty (0 bytes)')

    # tools/test.py reads the val set in a worker process
    from stl_mm.apis import init_model
    ckpt = tmp_path / 'init.pth'
    torch.save({'state_dict': init_model(str(DEMO_CLS_CONFIG)).state_dict()},
               ckpt)
    cut_jpeg = _copy_demo(demo_root, tmp_path / 'cut')
    victim = (cut_jpeg / 'meta/val.txt').read_text().split()[0]
    ok, jpeg = cv2.imencode('.jpg', np.full((64, 64, 3), 99, np.uint8))
    (cut_jpeg / 'val' / victim).write_bytes(jpeg.tobytes()[:300])
    code, err = run_inprocess(['tools/test.py', DEMO_CLS_CONFIG, ckpt,
                               '--work-dir', tmp_path / 't1',
                               *_opts_for(cut_jpeg,
                                          'test_dataloader.num_workers=1')],
                              capsys, monkeypatch)
    one_line_error(code, err, victim, 'truncated JPEG')


def _odd_sized_set(root):
    """A 4-class set whose images are 97x143, 80x112, ... (no multiple of
    16) in the demo layout."""
    rng = np.random.RandomState(0)
    sizes = [(97, 143), (80, 112), (143, 97), (70, 70)]
    for split, per_class in (('train', 4), ('val', 2)):
        lines = []
        for label in range(4):
            os.makedirs(root / split / f'c{label}', exist_ok=True)
            for i in range(per_class):
                h, w = sizes[(label + i) % 4]
                rel = f'c{label}/{i}.png'
                cv2.imwrite(str(root / split / rel),
                            rng.randint(0, 256, (h, w, 3), dtype=np.uint8))
                lines.append(f'{rel} {label}')
        os.makedirs(root / 'meta', exist_ok=True)
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return root


def test_odd_val_sizes_and_extra_classes(tmp_path, capsys, monkeypatch):
    data = _odd_sized_set(tmp_path / 'odd')
    opts = _opts_for(data, 'train_cfg.max_epochs=1',
                     'train_cfg.val_interval=1',
                     'train_dataloader.batch_size=8')
    # the demo's val pipeline resizes and crops: trains and validates
    work = tmp_path / 'ok'
    code, err = run_inprocess(['tools/train.py', DEMO_CLS_CONFIG,
                               '--work-dir', work, *opts,
                               'model.head.num_classes=6',
                               'model.data_preprocessor.num_classes=6'],
                              capsys, monkeypatch)
    assert code == 0, err[-3000:]
    assert (work / 'epoch_1.pth').is_file()
    assert 'accuracy/top1' in _log_text(work)
    # more classes than the data holds: said, not silent
    assert '2 classes have no training sample: 4, 5' in _log_text(work)

    # a val pipeline without resizing fails before any training, not after
    # the first epoch
    raw = tmp_path / 'raw_val.py'
    raw.write_text(textwrap.dedent(f"""
        _base_ = ['{DEMO_CLS_CONFIG}']
        val_dataloader = dict(dataset=dict(pipeline=[
            dict(type='stl_mm.LoadImageFromFile'),
            dict(type='PackInputs')]))
    """))
    work = tmp_path / 'raw'
    code, err = run_inprocess(['tools/train.py', raw, '--work-dir', work,
                               *opts], capsys, monkeypatch)
    one_line_error(code, err, 'first validation batch',
                   'nothing has been trained yet')
    assert 'Epoch(train)' not in _log_text(work)


# ---------------------------------------------------------------------------
# checkpoints given to tools/test.py and to the STL teacher
# ---------------------------------------------------------------------------
def _broken_checkpoints(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.randn(32, 32)}}, good)
    data = good.read_bytes()
    files = {'truncated or damaged zip archive': data[:len(data) // 2],
             'not a PyTorch checkpoint': os.urandom(2048).replace(b'PK', b'')
             .lstrip(b'\x80'),
             'empty (0 bytes)': b''}
    out = {}
    for i, (reason, content) in enumerate(files.items()):
        out[reason] = tmp_path / f'broken{i}.pth'
        out[reason].write_bytes(content)
    return out


def test_checkpoint_errors_of_test_tool_and_teacher(demo_root, tmp_path,
                                                     capsys, monkeypatch):
    from stl_mm.apis import init_model
    opts = ['--cfg-options', *demo_data_opts(demo_root)]
    for reason, path in _broken_checkpoints(tmp_path).items():
        code, err = run_inprocess(['tools/test.py', DEMO_CLS_CONFIG, path,
                                   '--work-dir', tmp_path / 't', *opts],
                                  capsys, monkeypatch)
        one_line_error(code, err, path, reason)
        assert 'weights_only' not in err

    code, err = run_inprocess(['tools/test.py', DEMO_CLS_CONFIG,
                               tmp_path / 'nowhere.pth', '--work-dir',
                               tmp_path / 't', *opts], capsys, monkeypatch)
    one_line_error(code, err, 'nowhere.pth')
    assert 'data_root' not in err

    # a checkpoint of another class count: shapes and what the file holds
    six = init_model(str(DEMO_CLS_CONFIG), cfg_options={
        'model.head.num_classes': 6}).state_dict()
    six_file = tmp_path / 'six.pth'
    torch.save({'state_dict': six}, six_file)
    code, err = run_inprocess(['tools/test.py', DEMO_CLS_CONFIG, six_file,
                               '--work-dir', tmp_path / 't', *opts], capsys,
                              monkeypatch)
    one_line_error(code, err, six_file, "'head.fc.weight': checkpoint "
                   '[6, 64] != model [4, 64]', '6 classes')

    # the STL teacher: wrong class count, broken file, plain classifier,
    # teacher/student class mismatch, views of different shapes
    labeler6 = init_model(str(LABELER), cfg_options={
        'model.head.num_classes': 6}).state_dict()
    teacher6 = tmp_path / 'teacher6.pth'
    torch.save({'state_dict': labeler6}, teacher6)
    student = ['tools/train.py', STUDENT, '--work-dir', tmp_path / 's',
               *opts, 'train_cfg.max_epochs=1']
    code, err = run_inprocess([*student, f'model.teacher.checkpoint='
                               f'{teacher6}'], capsys, monkeypatch)
    one_line_error(code, err, teacher6, 'does not fit the teacher',
                   "'head.aux_fc.weight': checkpoint [6, 64] != model "
                   '[4, 64]', '6 classes')
    empty = _broken_checkpoints(tmp_path)['empty (0 bytes)']
    code, err = run_inprocess([*student, f'model.teacher.checkpoint={empty}'],
                              capsys, monkeypatch)
    one_line_error(code, err, empty, 'empty (0 bytes)')

    code, err = run_inprocess([*student, f'model.teacher.config={BASELINE}',
                               'model.teacher.checkpoint=None'], capsys,
                              monkeypatch)
    one_line_error(code, err, 'must be a phase-1 token labeler',
                   'LinearClsHead')

    teacher_cfg = tmp_path / 'labeler6.py'
    teacher_cfg.write_text(f"_base_ = ['{LABELER}']\n"
                           'model = dict(head=dict(num_classes=6))\n')
    code, err = run_inprocess([*student, f'model.teacher.config={teacher_cfg}',
                               'model.teacher.checkpoint=None',
                               'model.grid_check_size=[64,64]'], capsys,
                              monkeypatch)
    one_line_error(code, err, 'Student has 4 classes, teacher 6')


def test_empty_class_folder_is_named(tmp_path):
    """mmpretrain's folder mode keeps an empty class folder as a class with
    no sample; the pre-flight check names it (and refuses labels out of
    range)."""
    from mmengine.logging import MMLogger
    from mmpretrain.datasets import CustomDataset
    from mmpretrain.models import LinearClsHead

    from stl_mm.engine.hooks import PreflightHook
    from stl_mm.utils.errors import UserError
    for name in ('a_disc', 'b_empty', 'c_square'):
        (tmp_path / 'train' / name).mkdir(parents=True)
    for name in ('a_disc', 'c_square'):
        cv2.imwrite(str(tmp_path / 'train' / name / '0.png'),
                    np.zeros((8, 8, 3), np.uint8))
    dataset = CustomDataset(data_root=str(tmp_path), data_prefix='train',
                            ann_file='', pipeline=[])
    assert dataset.metainfo['classes'] == ('a_disc', 'b_empty', 'c_square')

    class Classifier(torch.nn.Module):
        def __init__(self, num_classes):
            super().__init__()
            self.head = LinearClsHead(num_classes, 4)

    logger = MMLogger.get_instance(f'preflight{uuid.uuid4().hex}')
    log_file = tmp_path / 'log.txt'
    handler = __import__('logging').FileHandler(log_file)
    logger.addHandler(handler)
    try:
        PreflightHook._check_labels(dataset, Classifier(3))
    finally:
        handler.close()
        logger.removeHandler(handler)
    assert '1 classes have no training sample: 1 (b_empty)' in \
        log_file.read_text()
    with pytest.raises(UserError, match='label 2 .*num_classes=2'):
        PreflightHook._check_labels(dataset, Classifier(2))
