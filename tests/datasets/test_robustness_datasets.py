"""ImageNet val/-C/-A/-R folder datasets: fixed wnid maps, folder checks."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from stl_mm.datasets.robustness import (SUBSETS_FILE, ImageNetA, ImageNetC,
                                        ImageNetR, ImageNetVal,
                                        imagenet_wnids, load_ood_subsets,
                                        subset_indices, subset_wnids)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SHARED_JSON = osp.join(REPO, '..', 'shared', 'spec',
                       'imagenet_ood_subsets.json')
FOUR = ['n01440764', 'n01443537', 'n01484850', 'n01491361']


def _img(path, value=0):
    os.makedirs(osp.dirname(path), exist_ok=True)
    cv2.imwrite(path, np.full((8, 8, 3), value, np.uint8))


def _tree(root, wnids, per_class=1, ext='.JPEG'):
    for wnid in wnids:
        for i in range(per_class):
            _img(osp.join(root, wnid, f'{wnid}_{i}{ext}'))


@pytest.mark.skipif(not osp.isfile(SHARED_JSON),
                    reason='shared spec not available')
def test_embedded_lists_equal_the_shared_spec():
    with open(SHARED_JSON) as f:
        shared = json.load(f)
    with open(SUBSETS_FILE) as f:
        embedded = json.load(f)
    assert embedded == shared
    assert imagenet_wnids() == shared['imagenet1k_wnids_sorted']
    for name in ('imagenet_a', 'imagenet_r'):
        assert subset_wnids(name) == shared[f'{name}_wnids']
        assert subset_indices(name) == shared[f'{name}_indices_in_1k']


def test_embedded_lists_are_consistent():
    data = load_ood_subsets()
    wnids = data['imagenet1k_wnids_sorted']
    assert len(wnids) == 1000 and wnids == sorted(wnids)
    for name in ('imagenet_a', 'imagenet_r'):
        sub, idx = subset_wnids(name), subset_indices(name)
        assert len(sub) == len(idx) == 200
        assert [wnids[i] for i in idx] == sub


@pytest.mark.parametrize('cls,name', [(ImageNetA, 'imagenet_a'),
                                      (ImageNetR, 'imagenet_r')])
def test_subset_maps_by_wnid_not_folder_order(tmp_path, cls, name):
    sub = subset_wnids(name)
    chosen = [sub[5], sub[0], sub[150]]  # label 1 folder missing
    _tree(str(tmp_path), chosen)
    (tmp_path / 'README.txt').write_text('ignored')
    with pytest.warns(UserWarning, match='no images'):
        ds = cls(data_root=str(tmp_path), allow_missing_classes=True)
    # the metainfo maps every one of the 200 labels to its 1000-class column
    assert list(ds.metainfo['logit_indices']) == subset_indices(name)
    assert ds.metainfo['classes'] == tuple(sub)
    labels = {osp.basename(osp.dirname(ds.get_data_info(i)['img_path'])):
              ds.get_data_info(i)['gt_label'] for i in range(len(ds))}
    assert labels == {sub[0]: 0, sub[5]: 5, sub[150]: 150}
    assert len(ds.metainfo['missing_classes']) == 197


def test_missing_classes_error_and_unknown_folder(tmp_path):
    _tree(str(tmp_path / 'val'), FOUR[:3])
    with pytest.raises(FileNotFoundError, match='n01491361'):
        ImageNetVal(data_root=str(tmp_path), data_prefix='val', wnids=FOUR)
    _tree(str(tmp_path / 'val'), ['n99999999'])
    with pytest.raises(ValueError, match='n99999999'):
        ImageNetVal(data_root=str(tmp_path), data_prefix='val', wnids=FOUR,
                    allow_missing_classes=True)


def test_imagenet_val_small_label_space(tmp_path):
    _tree(str(tmp_path / 'val'), FOUR, per_class=2)
    os.makedirs(tmp_path / 'val' / '.cache')  # hidden folders are skipped
    classes_file = tmp_path / 'classes.txt'
    classes_file.write_text('\n'.join(FOUR[::-1]) + '\n')
    ds = ImageNetVal(data_root=str(tmp_path), data_prefix='val',
                     classes_file=str(classes_file))
    assert len(ds) == 8
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        wnid = osp.basename(osp.dirname(info['img_path']))
        assert info['gt_label'] == FOUR[::-1].index(wnid)
    # the default label space is the sorted 1000 wnids
    with pytest.warns(UserWarning, match='996 class'):
        ds = ImageNetVal(data_root=str(tmp_path / 'val'),
                         allow_missing_classes=True)
    assert {ds.get_data_info(i)['gt_label'] for i in range(8)} == {0, 1, 2, 3}


def _c_tree(root, corruptions, severities=(1, 2, 3, 4, 5)):
    for c in corruptions:
        for s in severities:
            _tree(osp.join(root, c, str(s)), FOUR[:2])


def test_imagenet_c_samples_carry_corruption_and_severity(tmp_path):
    _c_tree(str(tmp_path), ['fog', 'saturate'])
    ds = ImageNetC(data_root=str(tmp_path), corruptions=['fog', 'saturate'],
                   severities=(2, 5), wnids=FOUR[:2])
    assert len(ds) == 2 * 2 * 2
    seen = set()
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        parts = info['img_path'].split(os.sep)
        assert parts[-4] == info['corruption']
        assert parts[-3] == str(info['severity'])
        assert info['gt_label'] == FOUR.index(parts[-2])
        seen.add((info['corruption'], info['severity']))
    assert seen == {('fog', 2), ('fog', 5), ('saturate', 2),
                    ('saturate', 5)}
    assert ds.metainfo['corruptions'] == ('fog', 'saturate')
    assert ds.metainfo['missing_pairs'] == []


def test_imagenet_c_missing_corruption_is_caught(tmp_path):
    corruptions = ['gaussian_noise', 'fog', 'jpeg_compression']
    _c_tree(str(tmp_path), corruptions[:2])
    _c_tree(str(tmp_path), ['JPEG_compression'])  # the upstream casing bug
    with pytest.raises(FileNotFoundError) as info:
        ImageNetC(data_root=str(tmp_path), corruptions=corruptions,
                  wnids=FOUR[:2])
    assert 'jpeg_compression/1' in str(info.value)
    assert 'JPEG_compression' in str(info.value)
    # default: all 19 -> 17 corruptions missing
    with pytest.raises(FileNotFoundError, match='85 requested'):
        ImageNetC(data_root=str(tmp_path), wnids=FOUR[:2])
    with pytest.warns(UserWarning, match='missing'):
        ds = ImageNetC(data_root=str(tmp_path), corruptions=corruptions,
                       wnids=FOUR[:2], allow_missing=True)
    assert ds.metainfo['missing_pairs'] == [['jpeg_compression', s]
                                            for s in range(1, 6)]
    assert len(ds) == 2 * 5 * 2


def test_imagenet_c_arguments(tmp_path):
    with pytest.raises(ValueError, match='Unknown corruption'):
        ImageNetC(data_root=str(tmp_path), corruptions=['fogg'])
    with pytest.raises(ValueError, match='severities'):
        ImageNetC(data_root=str(tmp_path), severities=(0, 1))
    _c_tree(str(tmp_path), ['fog'], severities=(1, ))
    _tree(str(tmp_path / 'fog' / '1'), ['n00000000'])
    with pytest.raises(ValueError, match='n00000000'):
        ImageNetC(data_root=str(tmp_path), corruptions='fog',
                  severities=[1], wnids=FOUR)


def test_registered_and_buildable_from_config(tmp_path):
    from stl_mm.registry import DATASETS
    _tree(str(tmp_path), subset_wnids('imagenet_r')[:1])
    ds = DATASETS.build(dict(type='stl_mm.ImageNetR',
                             data_root=str(tmp_path),
                             wnids=subset_wnids('imagenet_r')[:1],
                             pipeline=[dict(type='LoadImageFromFile')]))
    assert ds.metainfo['logit_indices'] == (1, )
    assert ds[0]['img'].shape == (8, 8, 3)
