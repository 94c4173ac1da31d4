"""STL on own images (tools/train_custom.py, stl_mm.apis.custom_data).

One end-to-end ``--quick`` run on a generated 7-class folder of odd-sized
JPEG/PNG files (grayscale and RGBA among them, class names with spaces and
non-ASCII letters) checks the "done when" items: exit 0, summary.json with
the sorted class names, per-class metrics of the student, confusion-matrix
and ROC figures, dumped configs that tools/test.py evaluates with no other
option (--report included), and a rerun that skips every stage. The config
writer and the tool's bad-input errors are checked without training.
"""
import json
import os
import os.path as osp
import runpy
import sys

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from stl_mm.apis.custom_data import (CustomDataOptions, CustomDataWorkflow,
                                     resolve_arch, write_configs)
from stl_mm.datasets.folder_split import (scan_class_folders,
                                          stratified_split, write_split)
from stl_mm.testing import REPO
from stl_mm.utils.cli import explain
from stl_mm.utils.errors import UserError

CLASSES = ['apple pie', 'Äpfel', 'cat', 'dog', 'élan', 'fish', 'gull']


def make_image_folder(root, per_class=6, seed=0):
    """7 classes of odd-sized images: JPEG, PNG, grayscale PNG, RGBA PNG.
    Each class is a coloured square on a dark background."""
    rng = np.random.default_rng(seed)
    for k, name in enumerate(CLASSES):
        folder = osp.join(root, name)
        os.makedirs(folder, exist_ok=True)
        colour = np.array([(k * 37) % 256, (k * 91) % 256, (k * 53) % 256],
                          np.uint8)
        for i in range(per_class):
            h, w = (int(x) for x in rng.integers(21, 70, size=2))
            img = rng.integers(0, 60, (h, w, 3)).astype(np.uint8)
            img[h // 4:3 * h // 4, w // 4:3 * w // 4] = colour
            kind = i % 4
            if kind == 0:
                cv2.imwrite(osp.join(folder, f'{i} photo.jpg'), img)
            elif kind == 1:
                Image.fromarray(img).save(osp.join(folder, f'{i}.png'))
            elif kind == 2:
                Image.fromarray(img[..., 0]).save(
                    osp.join(folder, f'{i}_gray.png'))
            else:
                alpha = np.full((h, w, 1), 200, np.uint8)
                Image.fromarray(np.dstack([img, alpha])).save(
                    osp.join(folder, f'{i}_rgba.png'))
    return root


def run_main(monkeypatch, tool, *args) -> int:
    """Run ``tools/<tool>`` as ``__main__`` in this process (with its
    friendly-error wrapper, without a second interpreter start); returns
    the exit status."""
    script = str(REPO / 'tools' / tool)
    monkeypatch.setattr(sys, 'argv', [script, *map(str, args)])
    monkeypatch.setenv('STL_MM_DEBUG', '')
    try:
        runpy.run_path(script, run_name='__main__')
    except SystemExit as exit_:
        return exit_.code
    return 0


def _split(tmp_path, data):
    scan = scan_class_folders(data)
    items = stratified_split(scan, 0.2, 0)
    write_split(str(tmp_path / 'work' / 'splits'), scan.classes, items,
                dict(train=scan.root, val=scan.root), seed=0)
    with open(tmp_path / 'work' / 'splits' / 'split.json',
              encoding='utf-8') as f:
        split = json.load(f)
    split['counts']['train_used'] = split['counts']['train']
    return split


@pytest.mark.parametrize('optimizer', ['adamw', 'sophia'])
def test_written_configs_are_real_configs(tmp_path, optimizer):
    data = make_image_folder(str(tmp_path / 'data'), per_class=3)
    split = _split(tmp_path, data)
    o = CustomDataOptions(data_dir=data, work_dir=str(tmp_path / 'work'),
                          img_size=96, optimizer=optimizer).resolved()
    paths = write_configs(o, split)
    labeler = Config.fromfile(paths['token_labeler'])
    student = Config.fromfile(paths['stl_student'])
    baseline = Config.fromfile(paths['baseline'])
    for cfg in (labeler, student, baseline):
        assert cfg.default_scope == 'mmpretrain'
        assert cfg.model.head.num_classes == 7
        assert cfg.model.data_preprocessor.num_classes == 7
        assert cfg.model.backbone.arch == 'fan_tiny_8_p4_hybrid_token'
        assert cfg.model.head.in_channels == 192
        ds = cfg.val_dataloader.dataset
        assert ds.metainfo.classes == sorted(CLASSES) == split['classes']
        assert ds.ann_file == split['files']['val'] and ds.data_root == data
        assert cfg.test_dataloader.dataset.ann_file == ds.ann_file
        assert cfg.train_dataloader.dataset.ann_file == \
            split['files']['train']
        assert cfg.val_dataloader.dataset.pipeline[-2] == dict(
            type='CenterCrop', crop_size=96)
        assert cfg.train_cfg.max_epochs == 100
        assert cfg.val_evaluator.topk == (1, 5)
        opt = cfg.optim_wrapper
        if optimizer == 'sophia':
            assert opt.type == 'stl_mm.HessianOptimWrapper'
            assert opt.optimizer.type == 'stl_mm.SophiaH'
            assert 'clip_grad' not in opt
        else:
            assert opt.optimizer == dict(type='AdamW', lr=3e-4,
                                         weight_decay=0.05)
    assert labeler.model.head.type == 'stl_mm.TokenLabelHead'
    assert student.model.type == 'stl_mm.STLClassifier'
    assert student.model.teacher.checkpoint == osp.join(
        str(tmp_path / 'work'), 'token_labeler',
        'best_accuracy_top1_epoch_*.pth')
    assert student.model.teacher.config == paths['token_labeler']
    assert student.train_dataloader.dataset.pipeline[1] == dict(
        type='stl_mm.AddTeacherView')
    assert baseline.model.head.type == 'LinearClsHead'
    assert student.work_dir == osp.join(str(tmp_path / 'work'),
                                        'stl_student')


def test_options_and_arch_errors(tmp_path):
    o = CustomDataOptions(data_dir=str(tmp_path), work_dir=str(tmp_path))
    for bad, message in ((dict(img_size=100), 'multiple of 16'),
                         (dict(epochs=0), '--epochs'),
                         (dict(load_from='missing.pth'), '--load-from'),
                         (dict(arch='fan_huge'), 'Unknown --arch')):
        with pytest.raises(UserError, match=message):
            opts = CustomDataOptions(**{**o.__dict__, **bad}).resolved()
            resolve_arch(opts.arch)
    assert resolve_arch('fan_small_12_p4_hybrid')['embed_dims'] == 384
    assert resolve_arch('x', quick=True)['embed_dims'] == 32


def test_single_class_folder_is_a_clear_error(tmp_path):
    data = make_image_folder(str(tmp_path / 'data'), per_class=2)
    for name in CLASSES[1:]:
        for f in os.listdir(osp.join(data, name)):
            os.remove(osp.join(data, name, f))
        os.rmdir(osp.join(data, name))
    workflow = CustomDataWorkflow(CustomDataOptions(
        data_dir=data, work_dir=str(tmp_path / 'work'), quick=True),
        log=lambda line: None)
    with pytest.raises(UserError, match='needs at least two') as info:
        workflow.run()
    assert explain(info.value) == str(info.value)
    assert not osp.exists(tmp_path / 'work' / 'token_labeler')


def test_tool_reports_a_truncated_image_in_one_line(tmp_path, capsys,
                                                    monkeypatch):
    data = make_image_folder(str(tmp_path / 'data'), per_class=2)
    ok, jpeg = cv2.imencode('.jpg', np.zeros((40, 40, 3), np.uint8))
    with open(osp.join(data, 'cat', 'broken.jpg'), 'wb') as f:
        f.write(jpeg.tobytes()[:len(jpeg) // 2])
    code = run_main(monkeypatch, 'train_custom.py', data, '--work-dir',
                    str(tmp_path / 'work'), '--quick')
    err = capsys.readouterr().err
    assert code == 2, err[-3000:]
    error = [line for line in err.splitlines() if line.startswith('error:')]
    assert len(error) == 1 and 'cat/broken.jpg' in error[0]
    assert 'truncated JPEG' in error[0] and '--skip-unreadable' in error[0]
    assert 'Traceback' not in err
    assert not osp.exists(tmp_path / 'work' / 'token_labeler')


def test_quick_run_end_to_end(tmp_path, capsys, monkeypatch):
    data = make_image_folder(str(tmp_path / 'data'), per_class=6)
    work = str(tmp_path / 'work')
    assert run_main(monkeypatch, 'train_custom.py', data, '--work-dir', work,
                    '--quick') == 0
    out = capsys.readouterr().out
    assert '[1/6] Checking the images' in out
    assert 'estimated time left' in out
    assert '| STL student (phase 2) |' in out  # the final table
    with open(osp.join(work, 'summary.json'), encoding='utf-8') as f:
        summary = json.load(f)
    assert summary['classes'] == sorted(CLASSES)
    assert summary['num_classes'] == 7
    for part in ('train', 'val'):
        assert osp.isfile(summary['splits'][part])
        assert osp.isfile(osp.join(work, 'splits', f'{part}.txt'))
    assert sum(summary['splits']['counts']['val'].values()) == 7
    student = summary['metrics']['stl_student']
    assert set(student['per_class']) == set(CLASSES)
    for numbers in student['per_class'].values():
        assert set(numbers) == {'precision', 'recall', 'f1', 'support'}
        assert numbers['support'] == 1
    assert 0 <= student['top1'] <= student['top5'] <= 100
    assert set(summary['metrics']) == {'token_labeler', 'stl_student',
                                       'baseline'}
    figures = summary['figures']
    confusion = figures['confusion_matrix']['stl_student']
    roc = figures['roc']['stl_student']
    assert 'confusion' in osp.basename(confusion) and confusion.endswith(
        '.png')
    assert 'roc' in osp.basename(roc) and roc.endswith('.png')
    for path in (confusion, roc, figures['training_curves'],
                 *figures['token_labels']['stl_student']):
        assert osp.getsize(path) > 0, path
    for name in ('token_labeler', 'stl_student', 'baseline'):
        assert osp.isfile(osp.join(work, 'configs', f'{name}.py'))

    # the dumped config + checkpoint evaluate with tools/test.py alone,
    # and its --report gives the workflow's numbers
    report = str(tmp_path / 'test_report')
    assert run_main(monkeypatch, 'test.py',
                    osp.join(work, 'configs', 'stl_student.py'),
                    summary['checkpoints']['stl_student'],
                    '--report', report) == 0
    with open(osp.join(report, 'report.json'), encoding='utf-8') as f:
        again = json.load(f)
    assert again['classes'] == summary['classes']
    assert again['top1'] == pytest.approx(student['top1'])
    assert again['per_class'] == student['per_class']
    assert osp.isfile(osp.join(report, 'confusion_matrix.png'))
    assert osp.isfile(osp.join(report, 'roc_curves.png'))

    # a rerun (in this process: no second start-up) skips every stage and
    # rewrites the same summary
    lines = []
    rerun = CustomDataWorkflow(CustomDataOptions(
        data_dir=data, work_dir=work, quick=True), log=lines.append).run()
    assert sum('skipped (--force reruns it)' in x for x in lines) == 6
    assert rerun['metrics'] == summary['metrics']
    assert rerun['figures'] == summary['figures']


def test_split_stage_with_val_dir_and_skipped_images(tmp_path):
    data = make_image_folder(str(tmp_path / 'data'), per_class=2)
    val = make_image_folder(str(tmp_path / 'val'), per_class=1, seed=1)
    open(osp.join(data, 'dog', 'empty.png'), 'wb').close()
    lines = []
    workflow = CustomDataWorkflow(CustomDataOptions(
        data_dir=data, work_dir=str(tmp_path / 'work'), val_dir=val,
        skip_unreadable=True, quick=True), log=lines.append)
    result = workflow.stage_split()
    assert result == dict(classes=sorted(CLASSES), train=14, val=7)
    assert any('left out 1 unreadable image(s) of DATA_DIR' in x
               for x in lines)
    assert any('dog/empty.png: the file is empty' in x for x in lines)
    split = json.load(open(tmp_path / 'work' / 'splits' / 'split.json',
                           encoding='utf-8'))
    assert split['data_root'] == dict(train=data, val=val)
    assert split['skipped_unreadable'] == [
        'dog/empty.png: the file is empty (0 bytes)']
    cfg = Config.fromfile(split['configs']['stl_student'])
    assert cfg.val_dataloader.dataset.data_root == val
    assert cfg.train_dataloader.dataset.data_root == data
    # --quick trains on the quick subset (all 2 per class here)
    assert cfg.train_dataloader.dataset.ann_file.endswith('train_quick.txt')
    assert cfg.model.backbone.arch['embed_dims'] == 32
    # a val folder with other classes is refused
    os.rename(osp.join(val, 'cat'), osp.join(val, 'kitten'))
    with pytest.raises(UserError, match='missing "cat".*unknown "kitten"'):
        workflow.stage_split()


@pytest.mark.parametrize('epochs', [1, 3])
def test_schedule_reaches_the_full_rate(tmp_path, epochs):
    import torch
    from mmengine.optim.scheduler import LinearLR
    from stl_mm.apis.custom_data import _schedule_config
    o = CustomDataOptions(data_dir=str(tmp_path), work_dir=str(tmp_path),
                          epochs=epochs, lr=1.0)
    schedule = _schedule_config(o.resolved(), iters_per_epoch=7)
    warmup = dict(schedule['param_scheduler'][0])
    assert warmup.pop('type') == 'LinearLR'
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    if warmup.pop('convert_to_iter_based', False):
        scheduler = LinearLR.build_iter_from_epoch(optimizer, epoch_length=7,
                                                   **warmup)
    else:
        scheduler = LinearLR(optimizer, **warmup)
    lrs = []
    for _ in range(8):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        scheduler.step()
    assert lrs[0] < 0.2 and lrs[-1] == pytest.approx(1.0)


def test_load_from_initialises_every_backbone(tmp_path):
    import torch
    from mmengine.registry import DefaultScope
    from stl_mm.registry import MODELS
    data = make_image_folder(str(tmp_path / 'data'), per_class=3)
    split = _split(tmp_path, data)
    o = CustomDataOptions(data_dir=data, work_dir=str(tmp_path / 'work'),
                          arch='fan_tiny_8_p4_hybrid_token', img_size=64)
    # a real stl_mm checkpoint of the arch (another run's labeler)
    scope = DefaultScope.get_instance(f'load_from_{id(o)}',
                                      scope_name='mmpretrain')
    assert scope is not None
    paths = write_configs(o.resolved(), split)
    source = MODELS.build(Config.fromfile(paths['token_labeler']).model)
    weights = str(tmp_path / 'labeler.pth')
    torch.save(dict(state_dict=source.state_dict()), weights)

    o.load_from = weights
    o = o.resolved()
    assert (o.epochs, o.lr) == (30, 1e-4)
    paths = write_configs(o, split)
    for name in ('token_labeler', 'baseline'):
        cfg = Config.fromfile(paths[name])
        assert cfg.model.backbone.init_cfg == dict(type='Pretrained',
                                                   checkpoint=weights)
        assert cfg.train_cfg.max_epochs == 30
        model = MODELS.build(cfg.model)
        model.init_weights()
        key = 'blocks.3.attn.q.weight'
        torch.testing.assert_close(model.backbone.state_dict()[key],
                                   source.backbone.state_dict()[key])
    assert Config.fromfile(paths['stl_student']).model.backbone.init_cfg[
        'checkpoint'] == weights
