"""Tests of the embedded demo-data generator (tools/make_demo_data.py)."""
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from stl_mm.datasets import demo_data as dd

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'make_demo_data.py')

SMALL = dict(tasks=('cls', 'seg', 'det'), num_classes=4, train_per_class=3,
             val_per_class=2, img_size=64, scene_train=4, scene_val=3,
             scene_size=(96, 160), seed=7, log=None)


def tree_hash(root):
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        for name in sorted(filenames):
            path = osp.join(dirpath, name)
            digest.update(osp.relpath(path, root).encode() + b'\0')
            with open(path, 'rb') as f:
                digest.update(hashlib.sha256(f.read()).digest())
    return digest.hexdigest()


def rle_decode(rle):
    """Independent decoder of COCO compressed RLE (str counts)."""
    h, w = rle['size']
    s, p, counts = rle['counts'], 0, []
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1f) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    flat = np.zeros(h * w, dtype=bool)
    pos, value = 0, False
    for c in counts:
        flat[pos:pos + c] = value
        pos += c
        value = not value
    assert pos == h * w
    return flat.reshape((h, w), order='F')


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('demo'))
    assert dd.make_demo_data(out, **SMALL) == dict(
        cls='generated', seg='generated', det='generated')
    return out


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def test_cls_layout(root):
    cls = osp.join(root, 'cls')
    classes = read_lines(osp.join(cls, 'meta', 'classes.txt'))
    assert classes == dd.demo_class_names(4) == [
        'class_00_disc', 'class_01_square', 'class_02_triangle',
        'class_03_cross'
    ]
    for split, n in (('train', 3), ('val', 2)):
        lines = read_lines(osp.join(cls, 'meta', f'{split}.txt'))
        assert len(lines) == 4 * n
        for line in lines:
            rel, label = line.split(' ')
            assert rel.split('/')[0] == classes[int(label)]
            img = Image.open(osp.join(cls, split, rel))
            mask = Image.open(osp.join(cls, 'masks', split, rel))
            assert img.mode == 'RGB' and img.size == (64, 64)
            assert mask.mode == 'L' and mask.size == (64, 64)
        assert sorted(os.listdir(osp.join(cls, split))) == classes
    manifest = json.load(open(osp.join(root, dd.MANIFEST)))
    assert manifest['tasks']['cls']['params']['seed'] == 7
    assert manifest['tasks']['cls']['classes'] == classes


def test_masks_match_images(root):
    cls = osp.join(root, 'cls')
    for split in ('train', 'val'):
        for line in read_lines(osp.join(cls, 'meta', f'{split}.txt')):
            rel = line.split(' ')[0]
            img = np.asarray(Image.open(osp.join(cls, split, rel)), np.float64)
            mask = np.asarray(Image.open(osp.join(cls, 'masks', split, rel)))
            assert set(np.unique(mask)) == {0, 255}
            obj = mask > 0
            assert 0.15 <= obj.mean() <= 0.45, rel
            # The object is a distinct colour from the textured background.
            gap = np.linalg.norm(img[obj].mean(0) - img[~obj].mean(0))
            assert gap > 40, (rel, gap)
            # Object pixels are homogeneous (shaded fill), unlike the edges.
            assert img[obj].std(0).mean() < 40
            # A 16x16 token grid has object and background tokens.
            cells = obj.reshape(4, 16, 4, 16).mean(axis=(1, 3))
            assert cells.max() > 0.5 and cells.min() < 0.1, rel


def test_many_classes_use_hue_bands():
    names = dd.demo_class_names(10)
    assert names[0] == 'class_00_disc_h0' and names[8] == 'class_08_disc_h1'
    assert len(set(names)) == 10
    assert dd.scene_shape_names(10) == list(dd.SHAPES)
    assert dd.scene_shape_names(3) == ['disc', 'square', 'triangle']


def test_seg_layout_and_labels(root):
    cs = osp.join(root, 'cityscapes')
    valid = {v[2]: v[1] for v in dd.CITYSCAPES_MAPPING.values()}
    for split, n in (('train', 4), ('val', 3)):
        imgs = sorted(
            osp.join(dp, f) for dp, _, fs in os.walk(
                osp.join(cs, 'leftImg8bit', split)) for f in fs)
        assert len(imgs) == n
        for path in imgs:
            city, name = path.split(os.sep)[-2:]
            assert name.startswith(city + '_')
            assert name.endswith('_000019_leftImg8bit.png')
            stem = name[:-len('_leftImg8bit.png')]
            gt = osp.join(cs, 'gtFine', split, city, stem + '_gtFine_')
            img = Image.open(path)
            assert img.mode == 'RGB' and img.size == (160, 96)
            train_ids = np.asarray(Image.open(gt + 'labelTrainIds.png'))
            label_ids = np.asarray(Image.open(gt + 'labelIds.png'))
            assert train_ids.shape == label_ids.shape == (96, 160)
            assert set(np.unique(train_ids)) <= set(valid)
            for t in np.unique(train_ids):
                assert set(np.unique(label_ids[train_ids == t])) == {valid[t]}
            # road, sky, the ignored ego-vehicle band and objects
            assert {0, 10, 255} < set(np.unique(train_ids))
            assert (train_ids[-2:] == 255).all()


def test_rle_encode():
    rng = np.random.default_rng(0)
    masks = [np.zeros((5, 7), bool), np.ones((5, 7), bool)]
    masks += [rng.random((13, 9)) < p for p in (0.05, 0.5, 0.95)]
    big = np.zeros((300, 200), bool)
    big[40:260, 10:190] = True  # long runs: multi-character counts
    masks.append(big)
    for m in masks:
        rle = dd.rle_encode(m)
        assert rle['size'] == list(m.shape)
        assert isinstance(rle['counts'], str)
        assert (rle_decode(rle) == m).all()
    try:
        from pycocotools import mask as mask_utils
    except ImportError:
        return
    for m in masks:
        ref = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        assert dd.rle_encode(m)['counts'] == ref['counts'].decode()


def test_det_annotations(root):
    coco = osp.join(root, 'coco')
    kinds = set()
    for split, n in (('train', 4), ('val', 3)):
        ann = json.load(
            open(osp.join(coco, 'annotations', f'instances_{split}2017.json')))
        assert [c['name'] for c in ann['categories']] == dd.scene_shape_names()
        assert [c['id'] for c in ann['categories']] == [1, 2, 3, 4]
        assert len(ann['images']) == n
        for info in ann['images']:
            img = Image.open(osp.join(coco, f'{split}2017', info['file_name']))
            assert img.size == (info['width'], info['height']) == (160, 96)
        ids = {info['id'] for info in ann['images']}
        for a in ann['annotations']:
            assert a['image_id'] in ids and a['iscrowd'] == 0
            x, y, w, h = a['bbox']
            assert w > 0 and h > 0 and x >= 0 and y >= 0
            assert x + w <= 160 and y + h <= 96
            segm = a['segmentation']
            if isinstance(segm, dict):
                kinds.add('rle')
                m = rle_decode(segm)
                ys, xs = np.nonzero(m)
                assert [xs.min(), ys.min(), xs.max() + 1 - xs.min(),
                        ys.max() + 1 - ys.min()] == a['bbox']
                assert m.sum() == a['area']
            else:
                kinds.add('polygon')
                poly = np.array(segm[0]).reshape(-1, 2)
                assert len(segm) == 1 and len(poly) >= 3
                lo, hi = poly.min(0), poly.max(0)
                assert abs(lo[0] - x) <= 1 and abs(hi[0] - (x + w)) <= 1
                assert abs(lo[1] - y) <= 1 and abs(hi[1] - (y + h)) <= 1
    assert kinds == {'rle', 'polygon'}


def test_determinism_and_idempotence(root, tmp_path):
    other = str(tmp_path / 'again')
    dd.make_demo_data(other, **SMALL)
    assert tree_hash(other) == tree_hash(root)

    messages = []
    kwargs = dict(SMALL, log=messages.append)
    assert dd.make_demo_data(other, **kwargs) == dict(
        cls='skipped', seg='skipped', det='skipped')
    assert all('skipped' in m for m in messages)
    # --force regenerates the same bytes.
    assert dd.make_demo_data(other, **dict(kwargs, tasks=('cls', ),
                                           force=True)) == dict(
                                               cls='generated')
    assert tree_hash(other) == tree_hash(root)
    # Another seed gives other data (only the tasks whose parameters
    # changed are regenerated).
    assert dd.make_demo_data(other, **dict(kwargs, tasks=('cls', 'seg'),
                                           seed=8)) == dict(
                                               cls='generated',
                                               seg='generated')
    assert tree_hash(other) != tree_hash(root)
    assert not [f for f in os.listdir(other) if f.endswith('.tmp')]


def test_refuses_foreign_folder(tmp_path):
    os.makedirs(tmp_path / 'cls')
    with pytest.raises(FileExistsError, match='--force'):
        dd.make_demo_data(str(tmp_path), train_per_class=1, val_per_class=1,
                          log=None)


@pytest.mark.parametrize('kwargs, match', [
    (dict(img_size=60), 'multiple of 16'),
    (dict(img_size=16), 'multiple of 16'),
    (dict(scene_size=(100, 256)), 'multiples of 32'),
    (dict(num_classes=1), 'num_classes'),
    (dict(train_per_class=0), 'train_per_class'),
    (dict(tasks=('cls', 'depth')), 'tasks'),
    (dict(seed=-1), 'seed'),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        dd.make_demo_data(str(tmp_path), log=None, **kwargs)
    assert not os.listdir(tmp_path)


def test_cli(tmp_path):
    out = str(tmp_path / 'out')
    args = [sys.executable, TOOL, out, '--train-per-class', '1',
            '--val-per-class', '1', '--num-classes', '2', '--seed', '3']
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert 'cls: 2 classes' in res.stdout
    assert sorted(os.listdir(out)) == ['cls', dd.MANIFEST]
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode == 0 and 'skipped' in res.stdout
    res = subprocess.run(args + ['--img-size', '60'], capture_output=True,
                         text=True)
    assert res.returncode == 2
    assert 'img_size must be a multiple of 16' in res.stderr


def test_mmpretrain_custom_dataset(root):
    pytest.importorskip('mmpretrain')
    from mmcv.transforms import LoadImageFromFile
    from mmpretrain.datasets import CustomDataset
    from mmpretrain.datasets.transforms import PackInputs

    cls = osp.join(root, 'cls')
    pipeline = [LoadImageFromFile(), PackInputs()]
    # mmpretrain does not join ``classes`` with ``data_root``.
    ds = CustomDataset(data_root=cls, data_prefix='train',
                       ann_file='meta/train.txt',
                       classes=osp.join(cls, 'meta', 'classes.txt'),
                       pipeline=pipeline)
    assert len(ds) == 12
    assert list(ds.CLASSES) == dd.demo_class_names(4)
    sample = ds[5]
    assert tuple(sample['inputs'].shape) == (3, 64, 64)
    assert int(sample['data_samples'].gt_label) == ds.get_gt_labels()[5]
    # Folder scanning (no ann_file) finds the same classes and labels.
    scanned = CustomDataset(data_root=cls, data_prefix='val')
    assert list(scanned.CLASSES) == dd.demo_class_names(4)
    assert sorted(scanned.get_gt_labels().tolist()) == [0, 0, 1, 1, 2, 2, 3, 3]


def test_mmseg_cityscapes_dataset(root):
    pytest.importorskip('mmseg')
    from mmcv.transforms import LoadImageFromFile
    from mmseg.datasets import CityscapesDataset
    from mmseg.datasets.transforms import LoadAnnotations, PackSegInputs

    ds = CityscapesDataset(
        data_root=osp.join(root, 'cityscapes'),
        data_prefix=dict(img_path='leftImg8bit/train',
                         seg_map_path='gtFine/train'),
        pipeline=[LoadImageFromFile(), LoadAnnotations(), PackSegInputs()])
    assert len(ds) == 4
    sample = ds[0]
    assert tuple(sample['inputs'].shape) == (3, 96, 160)
    seg = sample['data_samples'].gt_sem_seg.data.numpy()
    assert {0, 10, 255} < set(np.unique(seg).tolist())


def test_mmdet_coco_dataset_and_metric(root):
    pytest.importorskip('mmdet')
    pytest.importorskip('pycocotools')
    import torch
    from mmcv.transforms import LoadImageFromFile
    from mmdet.datasets import CocoDataset
    from mmdet.datasets.transforms import LoadAnnotations, PackDetInputs
    from mmdet.evaluation import CocoMetric

    coco = osp.join(root, 'coco')
    classes = tuple(dd.scene_shape_names())
    ann_file = 'annotations/instances_val2017.json'
    ds = CocoDataset(
        data_root=coco, ann_file=ann_file, data_prefix=dict(img='val2017/'),
        metainfo=dict(classes=classes),
        pipeline=[LoadImageFromFile(),
                  LoadAnnotations(with_bbox=True, with_mask=True),
                  PackDetInputs()])
    assert len(ds) == 3
    ann = json.load(open(osp.join(coco, ann_file)))
    assert sum(len(ds.get_data_info(i)['instances'])
               for i in range(len(ds))) == len(ann['annotations'])

    metric = CocoMetric(ann_file=osp.join(coco, ann_file),
                        metric=['bbox', 'segm'])
    metric.dataset_meta = ds.metainfo
    for i in range(len(ds)):
        sample = ds[i]['data_samples']
        gt = sample.gt_instances
        assert len(gt) > 0
        masks = torch.from_numpy(gt.masks.to_ndarray()).bool()
        assert tuple(masks.shape[1:]) == (96, 160)
        # Decoded masks (polygons and RLE) agree with the annotated boxes.
        for m, box in zip(masks, gt.bboxes.numpy()):
            ys, xs = torch.nonzero(m, as_tuple=True)
            got = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            assert np.abs(got - box).max() <= 1
        pred = dict(bboxes=gt.bboxes.tensor.float(), labels=gt.labels,
                    scores=torch.ones(len(gt)), masks=masks)
        metric.process({}, [dict(img_id=sample.img_id,
                                 ori_shape=sample.ori_shape,
                                 pred_instances=pred)])
    results = metric.evaluate(len(ds))
    assert results['coco/bbox_mAP'] > 0.9
    assert results['coco/segm_mAP'] > 0.9
