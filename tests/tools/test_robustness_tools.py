"""The -C dataset writer and the robustness report (the package functions
behind tools/make_corrupted_dataset.py and tools/robustness_report.py)."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.model import BaseModel

from stl_mm.apis.robustness import robustness_report
from stl_mm.registry import MODELS
from stl_mm.robustness.corrupted_dataset import write_corrupted_dataset
from stl_mm.robustness.report import build_table
from stl_mm.testing import run_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _write(src, out, corruptions, severities, **kwargs):
    """write_corrupted_dataset without a progress bar; the exit status of
    the tool."""
    return write_corrupted_dataset(str(src), str(out), corruptions,
                                   severities, progress=False,
                                   **kwargs).status


def _texture(h, w, seed):
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 4, y * 4, (x * y) % 256], -1) + rng.randint(
        0, 30, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------
# make_corrupted_dataset
# --------------------------------------------------------------------------
@pytest.fixture
def image_folder(tmp_path):
    pytest.importorskip('imagecorruptions')
    src = tmp_path / 'src'
    for i, wnid in enumerate(['n01440764', 'n01443537']):
        os.makedirs(src / wnid)
        cv2.imwrite(str(src / wnid / f'{wnid}_0.JPEG'),
                    _texture(40, 56, i))
    cv2.imwrite(str(src / 'n01443537' / 'extra.png'), _texture(36, 44, 5))
    return src


def _files(root):
    out = {}
    for here, _, files in os.walk(root):
        for name in files:
            path = osp.join(here, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = f.read()
    return out


def test_generator_layout_determinism_and_resume(tmp_path, image_folder):
    args = (['shot_noise', 'fog'], [1, 3])
    out1 = tmp_path / 'out1'
    assert _write(image_folder, out1, *args, seed=4) == 0
    first = _files(out1)
    assert len(first) == 3 * 2 * 2
    assert 'fog/3/n01443537/extra.png' in first
    assert 'shot_noise/1/n01440764/n01440764_0.JPEG' in first
    img = cv2.imread(str(out1 / 'fog/3/n01443537/extra.png'))
    assert img.shape == (36, 44, 3)

    # the same result with 2 worker processes
    out2 = tmp_path / 'out2'
    assert _write(image_folder, out2, *args, seed=4, workers=2) == 0
    assert _files(out2) == first

    # resume: existing files are kept, a deleted one is rewritten identically
    victim = out1 / 'shot_noise/3/n01440764/n01440764_0.JPEG'
    kept = out1 / 'fog/1/n01440764/n01440764_0.JPEG'
    mtime = kept.stat().st_mtime_ns
    victim.unlink()
    assert _write(image_folder, out1, *args, seed=4) == 0
    assert kept.stat().st_mtime_ns == mtime
    assert _files(out1) == first
    assert not any('.tmp' in name for name in _files(out1))

    # a different base seed gives different noise
    out3 = tmp_path / 'out3'
    assert _write(image_folder, out3, *args, seed=5) == 0
    assert _files(out3)['shot_noise/1/n01440764/n01440764_0.JPEG'] != \
        first['shot_noise/1/n01440764/n01440764_0.JPEG']


def test_generator_png_equals_transform(tmp_path, image_folder):
    from stl_mm.datasets.transforms import ImageCorruption
    out = tmp_path / 'out'
    assert _write(image_folder, out, ['impulse_noise'], [2], seed=9) == 0
    rel = 'n01443537/extra.png'
    written = cv2.imread(str(out / 'impulse_noise' / '2' / rel))
    transform = ImageCorruption('impulse_noise', 2, seed=9,
                                data_root=str(image_folder))
    path = str(image_folder / rel)
    result = transform(dict(img=cv2.imread(path), img_path=path))
    assert np.array_equal(written, result['img'])


def test_generator_unreadable_inputs(tmp_path, image_folder, capsys):
    (image_folder / 'n01440764' / 'broken.JPEG').write_bytes(b'not a jpeg')
    args = [str(image_folder), str(tmp_path / 'out'), '--corruptions',
            'brightness', '--severities', '1', '--no-progress']
    # the tool: exit status 1 and the list of unreadable files
    out = run_tool(['tools/make_corrupted_dataset.py', *args], check=False)
    assert out.returncode == 1
    err = out.stderr
    assert '1 unreadable input(s)' in err and 'broken.JPEG' in err
    assert _write(image_folder, tmp_path / 'out', ['brightness'], [1],
                  skip_unreadable=True) == 0
    assert len(_files(tmp_path / 'out')) == 3


def test_generator_cityscapes_and_coco_layouts(tmp_path):
    pytest.importorskip('imagecorruptions')
    city = tmp_path / 'cityscapes'
    img_dir = city / 'leftImg8bit' / 'val' / 'lindau'
    gt_dir = city / 'gtFine' / 'val' / 'lindau'
    os.makedirs(img_dir)
    os.makedirs(gt_dir)
    cv2.imwrite(str(img_dir / 'lindau_000000_000019_leftImg8bit.png'),
                _texture(32, 64, 1))
    cv2.imwrite(str(gt_dir / 'lindau_000000_000019_gtFine_labelTrainIds.png'),
                np.zeros((32, 64), np.uint8))
    out = tmp_path / 'city-c'
    assert _write(city, out, ['contrast'], [2], layout='cityscapes') == 0
    root = out / 'contrast' / '2'
    assert (root / 'leftImg8bit/val/lindau/'
            'lindau_000000_000019_leftImg8bit.png').is_file()
    assert (root / 'gtFine').is_symlink()
    assert (root / 'gtFine/val/lindau/'
            'lindau_000000_000019_gtFine_labelTrainIds.png').is_file()

    coco = tmp_path / 'coco'
    os.makedirs(coco / 'val2017')
    os.makedirs(coco / 'annotations')
    cv2.imwrite(str(coco / 'val2017' / '000000000139.jpg'),
                _texture(48, 64, 2))
    ann = json.dumps(dict(images=[dict(id=139, file_name='000000000139.jpg',
                                       height=48, width=64)],
                          annotations=[], categories=[]))
    (coco / 'annotations' / 'instances_val2017.json').write_text(ann)
    (coco / 'annotations' / 'instances_train2017.json').write_text('{}')
    out = tmp_path / 'coco-c'
    assert _write(coco, out, ['pixelate'], [1], layout='coco',
                  labels='copy') == 0
    root = out / 'pixelate' / '1'
    assert cv2.imread(str(root / 'val2017' / '000000000139.jpg')).shape == \
        (48, 64, 3)
    assert not (root / 'annotations').is_symlink()
    assert (root / 'annotations' / 'instances_val2017.json').read_text() \
        == ann
    assert not (root / 'annotations' / 'instances_train2017.json').exists()


# --------------------------------------------------------------------------
# robustness_report
# --------------------------------------------------------------------------
@MODELS.register_module(name='PixelIndexClassifier', force=True)
class PixelIndexClassifier(BaseModel):
    """Test model over 1000 classes: predicts class round(mean of the first
    channel) and ranks the others by distance to it."""

    def __init__(self, num_classes=1000, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor or dict(
            type='mmpretrain.ClsDataPreprocessor'))
        self.num_classes = num_classes
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        value = inputs[:, 0].float().mean(dim=(1, 2))
        classes = torch.arange(self.num_classes, dtype=torch.float32)
        scores = -(value[:, None] - classes).abs() - 1e-3 * classes
        if mode == 'tensor':
            return scores
        if mode == 'loss':
            return dict(loss=self.dummy.sum())
        for sample, score in zip(data_samples, scores.softmax(dim=1)):
            sample.set_pred_score(score).set_pred_label(score.argmax())
        return data_samples


def _png(path, value):
    os.makedirs(osp.dirname(path), exist_ok=True)
    cv2.imwrite(path, np.full((24, 24, 3), value, np.uint8))


def test_report_table_for_a_tiny_model(tmp_path, capsys):
    from stl_mm.robustness.corruptions import ALL_CORRUPTIONS
    from stl_mm.robustness.ood_subsets import (imagenet_wnids,
                                               subset_indices, subset_wnids)
    wnids = imagenet_wnids()
    data = tmp_path / 'data'
    # IN-1K val: classes 0..3, the image of class 3 predicts 5 -> 75 %
    for label in range(4):
        _png(str(data / 'imagenet/val' / wnids[label] / 'a.png'),
             5 if label == 3 else label)
    # IN-C: every pair right -> acc 100, mCE 0
    for c in ALL_CORRUPTIONS:
        for s in range(1, 6):
            _png(str(data / 'imagenet-c' / c / str(s) / wnids[2] / 'a.png'),
                 2)
    # IN-A: label 0 is column 6. Pixel 7 predicts the 1000-class 7 (not in
    # ImageNet-A); restricted to the 200 columns, 6 is nearest -> right.
    a_wnids, a_idx = subset_wnids('imagenet_a'), subset_indices('imagenet_a')
    _png(str(data / 'imagenet-a' / a_wnids[0] / 'a.png'), 7)
    _png(str(data / 'imagenet-a' / a_wnids[1] / 'a.png'), a_idx[1])
    # IN-R: one right, one wrong -> 50 %
    r_wnids, r_idx = subset_wnids('imagenet_r'), subset_indices('imagenet_r')
    _png(str(data / 'imagenet-r' / r_wnids[0] / 'a.png'), r_idx[0])
    _png(str(data / 'imagenet-r' / r_wnids[1] / 'a.png'), r_idx[3])

    config = tmp_path / 'tiny_model.py'
    config.write_text(
        "default_scope = 'mmpretrain'\n"
        "model = dict(type='stl_mm.PixelIndexClassifier')\n"
        "test_dataloader = dict(batch_size=4)\n"
        "test_evaluator = dict(type='Accuracy')\n"
        "log_level = 'WARNING'\n")
    checkpoint = tmp_path / 'tiny.pth'
    torch.save(PixelIndexClassifier().state_dict(), str(checkpoint))

    work = tmp_path / 'work'
    _, table = robustness_report(
        str(config), str(checkpoint),
        roots={'imagenet-1k': str(data / 'imagenet'),
               'imagenet-c': str(data / 'imagenet-c'),
               'imagenet-a': str(data / 'imagenet-a'),
               'imagenet-r': str(data / 'imagenet-r')},
        work_dir=str(work), dump_configs=True, cfg_options={
            'test_dataloader.dataset.allow_missing_classes': True,
            'test_dataloader.num_workers': 0,
            'test_dataloader.batch_size': 32,
            'test_dataloader.pin_memory': False})
    expected_row = '| tiny_model | cls | 75.00 | 100.00 | 0.00 | 100.00 | 50.00 |'
    assert expected_row in table
    assert (work / 'robustness_report.md').read_text().splitlines()[2] == \
        expected_row
    report = json.loads((work / 'robustness_report.json').read_text())
    assert report['table']['IN-R'] == 50.0
    assert (work / 'imagenet-c.json').is_file()
    assert (work / 'imagenet-a.csv').is_file()
    assert (work / 'imagenet-c_config.py').is_file()

    # collect mode reads the saved results, without data or checkpoint
    _, table = robustness_report(str(config), collect=True,
                                 work_dir=str(work))
    assert expected_row in table

    # a set without results is shown as a dash; partial values get a star
    os.remove(work / 'imagenet-r.metrics.json')
    _, table = robustness_report(str(config), collect=True,
                                 work_dir=str(work), name='m')
    assert '| m | cls | 75.00 | 100.00 | 0.00 | 100.00 | — |' in table
    text, _, partial = build_table('m', {
        'imagenet-c': {'imagenet-c/acc_partial': 50.0,
                       'imagenet-c/mCE_partial': 60.0}})
    assert partial and '| m | — | — | 50.00* | 60.00* | — | — |' in text


def test_report_uses_the_published_fusion_for_token_models(tmp_path):
    """validate_ood.py: cls + 0.5 * max over tokens on every set; other
    fusions stay selectable; plain classifiers are left alone."""
    from stl_mm.apis.robustness import head_fusion, robustness_config
    from stl_mm.robustness.report import SETS
    token = osp.join(REPO, 'configs/stl/fan_t_token_labeler.py')
    for set_name in SETS:
        cfg = robustness_config(token, set_name, str(tmp_path),
                                  str(tmp_path / 'w'))
        assert cfg.model.head.fusion == 'cls_plus_max', set_name
        assert head_fusion(cfg) == 'cls_plus_max'
    cfg = robustness_config(token, 'imagenet-1k', str(tmp_path),
                              str(tmp_path / 'w'),
                              {'model.head.fusion': 'cls'})
    assert head_fusion(cfg) == 'cls'
    plain = osp.join(REPO, 'configs/fan/fan-tiny-8-p4-hybrid_8xb128-310e_'
                     'in1k.py')
    cfg = robustness_config(plain, 'imagenet-a', str(tmp_path),
                              str(tmp_path / 'w'))
    assert 'fusion' not in cfg.model.head and head_fusion(cfg) == 'cls'
    text, record, _ = build_table('m', {
        'imagenet-1k': {'accuracy/top1': 80.0, 'fusion': 'cls_plus_max'}})
    assert '| m | cls_plus_max | 80.00 |' in text
    assert record['Fusion'] == 'cls_plus_max'
