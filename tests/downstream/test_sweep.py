"""tools/corruption_sweep.py (stl_mm.apis.robustness.corruption_sweep):
Cityscapes-C / COCO-C sweeps on the generated sets (corrupted copies
generated on demand, resumable), and the summary logic of
stl_mm.robustness.sweep."""
import json
import math
from unittest import mock

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from stl_mm.testing import run_tool
from downstream_utils import (DET_DEMO, SEG_DEMO, build_model,  # noqa: F401
                              scene_root)
from stl_mm.apis import robustness as robustness_api
from stl_mm.robustness import sweep

pytest.importorskip('imagecorruptions')

CORRUPTIONS = ['gaussian_noise', 'contrast']


def _save_random_model(config, path):
    torch.manual_seed(0)
    model = build_model(config)
    torch.save({'meta': {}, 'state_dict': model.state_dict()}, path)
    return path


# --------------------------------------------------------------------------
# summary logic
# --------------------------------------------------------------------------
def _record(c, s, **metrics):
    return dict(corruption=c, severity=s, metrics=metrics)


def test_summary_means_and_markdown():
    results = {
        ('fog', 1): _record('fog', 1, mIoU=60.),
        ('fog', 2): _record('fog', 2, mIoU=40.),
        ('snow', 1): _record('snow', 1, mIoU=30.),
        ('snow', 2): _record('snow', 2, mIoU=20.),
        ('clean', None): _record('clean', None, mIoU=70.),
    }
    summary = sweep.summarise(results, ['fog', 'snow'], [1, 2],
                              sweep.TASKS['seg']['metrics'])
    block = summary['metrics']['mIoU']
    assert block['per_corruption']['fog']['mean'] == 50.
    assert block['per_corruption']['snow']['mean'] == 25.
    assert block['mean'] == 37.5 and block['complete']
    assert block['clean'] == 70.
    table = sweep.to_markdown(summary)
    assert '| fog | 60.00 | 40.00 | 50.00 |' in table
    assert '| **mean** | 45.00 | 30.00 | **37.50** |' in table
    assert '*' not in table.replace('**', '')

    # a missing pair: the means use what is there and are marked
    del results[('snow', 2)]
    summary = sweep.summarise(results, ['fog', 'snow'], [1, 2],
                              sweep.TASKS['seg']['metrics'])
    block = summary['metrics']['mIoU']
    assert not block['complete'] and block['mean'] == 40.
    table = sweep.to_markdown(summary)
    assert '| snow | 30.00 | — | 30.00* |' in table
    assert 'missing' in table


def test_detection_summary_in_percent():
    results = {('fog', 1): _record('fog', 1, **{'coco/bbox_mAP': 0.25,
                                                'coco/segm_mAP': 0.2})}
    summary = sweep.summarise(results, ['fog'], [1],
                              sweep.TASKS['det']['metrics'])
    assert summary['metrics']['box AP']['mean'] == 25.
    assert summary['metrics']['mask AP']['mean'] == pytest.approx(20.)


def test_config_pointing():
    seg = Config.fromfile(str(SEG_DEMO))
    assert sweep.test_split(seg, 'seg') == 'val'
    sweep.point_test_set_at(seg, '/x/fog/3', 'seg')
    assert seg.test_dataloader.dataset.data_root == '/x/fog/3'
    det = Config.fromfile(str(DET_DEMO))
    assert sweep.test_split(det, 'det') == 'val2017'
    sweep.point_test_set_at(det, '/x/fog/3', 'det')
    assert det.test_dataloader.dataset.data_root == '/x/fog/3'
    assert det.test_evaluator.ann_file == \
        '/x/fog/3/annotations/instances_val2017.json'


# --------------------------------------------------------------------------
# the tool
# --------------------------------------------------------------------------
def test_cityscapes_c_sweep_generates_and_resumes(scene_root, tmp_path,
                                                   capsys):
    checkpoint = _save_random_model(SEG_DEMO, tmp_path / 'seg.pth')
    clean = scene_root / 'cityscapes'
    corrupted = tmp_path / 'cityscapes-c'
    work = tmp_path / 'sweep'
    args = ['tools/corruption_sweep.py', str(SEG_DEMO), str(checkpoint),
            '--task', 'seg', '--clean-root', str(clean), '--corrupted-root',
            str(corrupted), '--corruptions', *CORRUPTIONS, '--severities',
            '2', '--work-dir', str(work)]
    first = run_tool(args)
    assert first.stdout.count(': evaluating ') == 2

    # the corrupted copies: Cityscapes roots with changed images, same labels
    for c in CORRUPTIONS:
        root = corrupted / c / '2'
        images = sorted((root / 'leftImg8bit' / 'val').rglob('*.png'))
        assert len(images) == 4
        src = clean / images[0].relative_to(root)
        assert not np.array_equal(cv2.imread(str(images[0])),
                                  cv2.imread(str(src)))
        assert (root / 'gtFine' / 'val').is_dir()

    records = {c: json.loads((work / 'results' / f'{c}_s2.json').read_text())
               for c in CORRUPTIONS}
    values = [records[c]['metrics']['mIoU'] for c in CORRUPTIONS]
    assert all(0. <= v <= 100. for v in values)
    summary = json.loads((work / 'summary.json').read_text())
    block = summary['metrics']['mIoU']
    assert block['complete']
    assert block['mean'] == pytest.approx(sum(values) / 2)
    assert block['per_corruption']['contrast']['mean'] == pytest.approx(
        values[1])
    table = (work / 'summary.md').read_text()
    assert '| gaussian_noise |' in table and '**mean**' in table
    assert table.strip() in first.stdout

    # second run (in-process): nothing is generated or evaluated again
    stamps = {p: p.stat().st_mtime_ns for p in (work / 'results').iterdir()}
    settings = robustness_api.SweepSettings(
        config=str(SEG_DEMO), checkpoint=str(checkpoint), task='seg',
        clean_root=str(clean), corrupted_root=str(corrupted),
        corruptions=CORRUPTIONS, severities=[2], work_dir=str(work))
    with mock.patch.object(robustness_api, 'evaluate') as evaluate, \
            mock.patch.object(robustness_api, 'generate') as generate:
        again, _ = robustness_api.corruption_sweep(settings)
    assert not evaluate.called
    assert generate.call_args is None or not generate.call_args[0][2]
    second = capsys.readouterr().out
    assert second.count(': stored (mIoU') == 2
    assert {p: p.stat().st_mtime_ns
            for p in (work / 'results').iterdir()} == stamps
    assert again['metrics'] == summary['metrics']

    # --collect only reads the results (by default all that are stored)
    _, collected = robustness_api.corruption_sweep(
        robustness_api.SweepSettings(config=str(SEG_DEMO), task='seg',
                                     work_dir=str(work), collect=True))
    assert table.strip() in collected


def test_missing_corrupted_root_is_reported(tmp_path):
    checkpoint = _save_random_model(SEG_DEMO, tmp_path / 'seg.pth')
    with pytest.raises(FileNotFoundError, match='make_corrupted_dataset.py'):
        robustness_api.corruption_sweep(robustness_api.SweepSettings(
            config=str(SEG_DEMO), checkpoint=str(checkpoint), task='seg',
            corrupted_root=str(tmp_path / 'nowhere'), corruptions=['fog'],
            severities=[1], work_dir=str(tmp_path / 'w')))


def test_coco_c_sweep(scene_root, tmp_path):
    checkpoint = _save_random_model(DET_DEMO, tmp_path / 'det.pth')
    work = tmp_path / 'sweep'
    run_tool(['tools/corruption_sweep.py', str(DET_DEMO), str(checkpoint),
              '--task', 'det', '--clean-root', str(scene_root / 'coco'),
              '--corrupted-root', str(tmp_path / 'coco-c'), '--corruptions',
              'contrast', '--severities', '1', '--work-dir', str(work)])
    record = json.loads((work / 'results' / 'contrast_s1.json').read_text())
    assert record['data_root'].endswith('coco-c/contrast/1')
    for key in ('coco/bbox_mAP', 'coco/segm_mAP'):
        assert math.isfinite(record['metrics'][key])
    summary = json.loads((work / 'summary.json').read_text())
    assert set(summary['metrics']) == {'box AP', 'mask AP'}
    assert (tmp_path / 'coco-c' / 'contrast' / '1' / 'annotations').exists()
