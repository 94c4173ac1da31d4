"""Folder of class sub-folders -> checked image lists and a stratified,
seeded split (stl_mm.datasets.folder_split): image formats, names with
spaces and non-ASCII letters through mmpretrain's CustomDataset, and the
bad inputs that must stop before training with one clear message."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from PIL import Image

from stl_mm.datasets.folder_split import (read_split, scan_class_folders,
                                          stratified_split, write_split)
from stl_mm.datasets.transforms import LoadImageFromFile
from stl_mm.utils.errors import UserError


def _pixels(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3),
                                                dtype=np.uint8)


def write_formats(folder, seed=0):
    """One file per format/kind, odd sizes: {name: path}."""
    os.makedirs(folder, exist_ok=True)
    rgb = _pixels(37, 53, seed)
    files = {}

    def path(name):
        files[name] = osp.join(folder, name)
        return files[name]

    cv2.imwrite(path('photo.jpg'), rgb)
    cv2.imwrite(path('bitmap.bmp'), rgb)
    assert cv2.imwrite(path('modern.webp'), rgb)
    Image.fromarray(rgb).save(path('colour.png'))
    Image.fromarray(rgb[..., 0]).save(path('gray.png'))
    Image.fromarray(rgb[..., 0]).save(path('gray.jpg'))
    Image.fromarray(np.dstack([rgb, rgb[..., :1]])).save(path('alpha.png'))
    cv2.imwrite(path('deep16.png'), rgb.astype(np.uint16) * 257)
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(
        path('gray16.png'))
    return files, rgb


def make_folder(root, counts, seed=0):
    """``root/<class>/<i>.png`` with ``counts[class]`` images each."""
    for k, (name, n) in enumerate(counts.items()):
        os.makedirs(osp.join(root, name), exist_ok=True)
        for i in range(n):
            cv2.imwrite(osp.join(root, name, f'img {i}.png'),
                        _pixels(8 + i, 10 + k, seed + 100 * k + i))
    return root


def test_every_format_loads_as_three_channel_uint8(tmp_path):
    files, rgb = write_formats(tmp_path / 'cls_a')
    write_formats(tmp_path / 'cls_b', seed=1)
    scan = scan_class_folders(str(tmp_path))
    assert scan.classes == ['cls_a', 'cls_b']
    assert len(scan.files['cls_a']) == len(files) and not scan.unreadable
    load = LoadImageFromFile()
    for name, path in files.items():
        img = load(dict(img_path=str(path)))['img']
        assert img.shape == (37, 53, 3) and img.dtype == np.uint8, name
    bgr = rgb[..., ::-1]
    # cv2 writes and reads arrays in BGR order, PIL in RGB; the 16-bit
    # file holds value * 257, which the reader maps back to the 8-bit value
    lossless = {'bitmap.bmp': rgb, 'deep16.png': rgb, 'colour.png': bgr,
                'alpha.png': bgr}
    for name, expected in lossless.items():
        img = load(dict(img_path=str(files[name])))['img']
        np.testing.assert_array_equal(img, expected, err_msg=name)
    for name in ('gray.png', 'gray16.png'):
        img = load(dict(img_path=str(files[name])))['img']
        for c in range(3):
            np.testing.assert_array_equal(img[..., c], rgb[..., 0])


def test_split_is_stratified_and_seeded(tmp_path):
    root = make_folder(str(tmp_path), {'a': 10, 'b': 5, 'c': 2})
    scan = scan_class_folders(root)
    split = stratified_split(scan, val_ratio=0.2, seed=3)
    per_class = {part: np.bincount([lb for _, lb in split[part]],
                                   minlength=3).tolist()
                 for part in ('train', 'val')}
    assert per_class == dict(train=[8, 4, 1], val=[2, 1, 1])
    assert split == stratified_split(scan, val_ratio=0.2, seed=3)
    other = stratified_split(scan, val_ratio=0.2, seed=4)
    assert other['val'] != split['val']
    everything = sorted(split['train'] + split['val'])
    assert everything == sorted((p, scan.classes.index(p.split('/')[0]))
                                for c in scan.classes for p in scan.files[c])
    # a new class leaves the split of the others unchanged
    make_folder(root, {'d': 4})
    bigger = stratified_split(scan_class_folders(root), 0.2, seed=3)
    assert [x for x in bigger['val'] if x[1] < 3] == split['val']


def test_split_files_round_trip_through_custom_dataset(tmp_path):
    from mmpretrain.datasets import CustomDataset
    names = {'apple pie': 3, 'Äpfel': 3, 'Ωmega  two spaces': 3}
    root = make_folder(str(tmp_path / 'data'), names)
    scan = scan_class_folders(root)
    split = stratified_split(scan, 0.34, seed=0)
    paths = write_split(str(tmp_path / 'splits'), scan.classes, split,
                        dict(train=root, val=root), seed=0)
    meta = json.load(open(paths['meta'], encoding='utf-8'))
    assert meta['classes'] == sorted(names) and meta['num_classes'] == 3
    assert meta['counts']['val'] == {c: 1 for c in names}
    assert read_split(paths['train']) == split['train']
    dataset = CustomDataset(data_root=root, ann_file=paths['val'],
                            metainfo=dict(classes=scan.classes),
                            pipeline=[], lazy_init=False)
    assert len(dataset) == 3
    for i, (rel, label) in enumerate(split['val']):
        info = dataset.get_data_info(i)
        assert info['img_path'] == osp.join(root, rel)
        assert info['gt_label'] == label and osp.isfile(info['img_path'])


@pytest.mark.parametrize('case, message', [
    ('empty_class', 'has no images'),
    ('single_class', 'needs at least two'),
    ('loose_files', 'files outside class sub-folders'),
    ('one_image', 'needs at least 2 per class'),
    ('leading_space', 'leading/trailing white space'),
    ('not_a_folder', 'is not a folder'),
])
def test_bad_folders_raise_one_clear_error(tmp_path, case, message):
    root = str(tmp_path / 'data')
    make_folder(root, {'a': 3, 'b': 3} if case != 'single_class'
                else {'a': 3})
    if case == 'empty_class':
        os.makedirs(osp.join(root, 'empty'))
    elif case == 'loose_files':
        cv2.imwrite(osp.join(root, 'stray.jpg'), _pixels(8, 8))
    elif case == 'one_image':
        make_folder(root, {'lonely': 1})
    elif case == 'leading_space':
        make_folder(root, {' spaced': 2})
    elif case == 'not_a_folder':
        root = osp.join(root, 'a', 'img 0.png')
    with pytest.raises(UserError, match=message) as info:
        stratified_split(scan_class_folders(root), 0.2, 0)
    assert '\n' not in str(info.value)
    if case == 'empty_class':
        assert 'empty' in str(info.value)
    if case == 'one_image':
        assert '--val-dir' in str(info.value) and 'lonely' in str(info.value)


def test_unreadable_images_stop_or_are_skipped_by_name(tmp_path):
    root = make_folder(str(tmp_path), {'a': 3, 'b': 3})
    ok, jpeg = cv2.imencode('.jpg', _pixels(30, 30))
    with open(osp.join(root, 'a', 'cut.jpg'), 'wb') as f:
        f.write(jpeg.tobytes()[:len(jpeg) // 2])
    open(osp.join(root, 'b', 'empty.png'), 'wb').close()
    with open(osp.join(root, 'b', 'notes.txt'), 'w') as f:
        f.write('not an image')
    with pytest.raises(UserError, match='2 image.s. in DATA_DIR cannot be '
                       'read') as info:
        scan_class_folders(root)
    assert 'a/cut.jpg' in str(info.value) and '--skip-unreadable' in str(
        info.value)
    scan = scan_class_folders(root, skip_unreadable=True)
    assert sorted(r for r, _ in scan.unreadable) == ['a/cut.jpg',
                                                     'b/empty.png']
    assert 'truncated JPEG' in dict(scan.unreadable)['a/cut.jpg']
    assert scan.ignored == ['b/notes.txt']
    assert scan.num_images == 6
