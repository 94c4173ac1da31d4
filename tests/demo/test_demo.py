"""The demo (tools/run_demo.py) end to end on a reduced budget, and the
token-label figure tool (tools/visualize_token_labels.py)."""
import json
from pathlib import Path

import pytest
import torch

from stl_mm.testing import REPO, run_tool

LABELER = REPO / 'configs/stl/demo/fan_demo_token_labeler.py'
BASELINE = REPO / 'configs/stl/demo/fan_demo_baseline.py'
DEMO_CLASSES = ['class_00_disc', 'class_01_square', 'class_02_triangle',
                'class_03_cross']


def _quick_demo(work, data):
    return run_tool(['tools/run_demo.py', '--quick', '--work-dir', str(work),
                     '--data-root', str(data), '--corruptions', 'fog',
                     'gaussian_noise'], timeout=600)


def test_quick_demo_end_to_end_and_rerun(tmp_path):
    work, data = tmp_path / 'work', tmp_path / 'data'
    out = _quick_demo(work, data)
    log = out.stdout + out.stderr
    # progress: a header per stage with the elapsed time and an estimate
    for i in range(1, 8):
        assert f'[{i}/7] ' in log
    assert 'estimated time left' in log
    assert 'Epoch(train)' in log  # the trainer's own log lines
    assert '| clean |' in log and '**corrupted mean**' in log
    assert 'paired bootstrap interval' in log
    assert 'phase-1 teacher vs the targets' in log

    summary = json.loads((work / 'summary.json').read_text())
    assert summary['settings']['quick'] is True
    assert set(summary['stages']) == {'data', 'corrupt', 'token_labeler',
                                      'stl_student', 'baseline', 'evaluate',
                                      'visualize'}
    for name in ('token_labeler', 'stl_student', 'baseline'):
        assert Path(summary['checkpoints'][name]).is_file()
        assert summary['stages'][name]['skipped'] is False
    metrics = summary['metrics']
    # the teacher: clean val set only
    assert 0 <= metrics['token_labeler']['clean_top1'] <= 100
    assert metrics['token_labeler']['corrupted_top1'] == {}
    assert metrics['token_labeler']['corrupted_mean_top1'] is None
    for name in ('baseline', 'stl_student', 'stl_student:cls_plus_max'):
        assert 0 <= metrics[name]['clean_top1'] <= 100
        assert set(metrics[name]['corrupted_top1']) == {'fog-3',
                                                        'gaussian_noise-3'}
        values = metrics[name]['corrupted_top1'].values()
        assert metrics[name]['corrupted_mean_top1'] == pytest.approx(
            sum(values) / len(values))
    assert summary['total_wall_time_s'] > 0
    assert summary['settings']['img_size'] == 128
    for name in ('token_labeler', 'stl_student', 'baseline'):
        info = summary['stages_info'][name]
        assert info['iterations'] == 2 and info['wall_time_s'] > 0
        assert 'tools/train.py' in summary['commands'][name]
    # paired bootstrap of the gains: clean and corrupted mean, 16 images
    comparison = summary['comparisons']['stl_student vs baseline']
    for key in ('clean', 'corrupted_mean'):
        c = comparison[key]
        assert c['num_images'] == 16 and c['low'] <= c['gain'] <= c['high']
        assert c['gain'] == pytest.approx(c['b'] - c['a'])
    assert comparison['corrupted_mean']['num_sets'] == 2
    assert comparison['clean']['b'] == pytest.approx(
        metrics['stl_student']['clean_top1'])
    assert comparison['corrupted_mean']['a'] == pytest.approx(
        metrics['baseline']['corrupted_mean_top1'])
    targets = summary['token_label_targets']
    assert set(targets) == {'object_image_class', 'confidence_auc'}
    assert targets['confidence_auc']['target'] == 0.8
    # corrupted copies: <data>/cls-c/<corruption>/<severity>/<class>/*.png
    assert len(list((data / 'cls-c' / 'fog' / '3').glob('*/*.png'))) == 16

    figures = summary['token_labels']
    for name in ('token_labeler', 'stl_student'):
        assert len(figures[name]['figures']) == 2
        for png in figures[name]['figures'] + [figures[name]['histogram']]:
            assert Path(png).read_bytes()[:4] == b'\x89PNG'
        stats = figures[name]['stats']
        # 128 px: an 8x8 token grid
        assert stats['num_images'] == 16 and stats['num_tokens'] == 16 * 64
        assert 'object_image_class' in stats  # the demo masks were found
        assert 0 <= stats['confidence_auc'] <= 1

    # a second run reuses every finished stage
    again = _quick_demo(work, data)
    log = again.stdout + again.stderr
    assert 'Epoch(train)' not in log
    summary = json.loads((work / 'summary.json').read_text())
    for name in ('data', 'corrupt', 'token_labeler', 'stl_student',
                 'baseline', 'evaluate'):
        assert summary['stages'][name]['skipped'] is True, name
    assert summary['metrics'] == metrics

    # --force redoes every stage, the corrupted copies included; CPU
    # training is deterministic, so the numbers repeat
    forced = run_tool(['tools/run_demo.py', '--quick', '--force',
                       '--work-dir', str(work), '--data-root', str(data),
                       '--corruptions', 'fog', 'gaussian_noise'],
                      timeout=600)
    assert 'wrote 32 files' in forced.stdout
    summary = json.loads((work / 'summary.json').read_text())
    assert not any(stage['skipped'] for stage in summary['stages'].values())
    assert summary['metrics'] == metrics


def _checkpoint(config, path):
    from stl_mm.apis import init_model
    torch.manual_seed(0)
    model = init_model(str(config))
    torch.save({'meta': {'dataset_meta': {'classes': DEMO_CLASSES}},
                'state_dict': model.state_dict()}, path)
    return path


def test_visualize_token_labels_tool(demo_root, tmp_path):
    ckpt = _checkpoint(LABELER, tmp_path / 'labeler.pth')
    images = sorted((demo_root / 'cls' / 'val').glob('*/0000.png'))[:2]
    out_dir = tmp_path / 'figures'
    out = run_tool(['tools/visualize_token_labels.py', str(LABELER),
                    str(ckpt), *map(str, images), '--out-dir', str(out_dir),
                    '--tau', '0.5', '--seed', '3'])
    pngs = sorted(p.name for p in out_dir.glob('*.png'))
    assert pngs == sorted([f'{p.parent.name}_0000.png' for p in images] +
                          ['confidence_histogram.png'])
    for png in out_dir.glob('*.png'):
        assert png.read_bytes()[:4] == b'\x89PNG'
    stats = json.loads((out_dir / 'token_label_stats.json').read_text())
    assert stats['tau'] == 0.5 and stats['seed'] == 3
    assert stats['stats']['num_tokens'] == 2 * 16
    assert 'object_tokens' in stats['stats']  # demo masks found
    assert 'mean confidence' in out.stdout
    assert stats['confidence_threshold'] == 0.5

    # 'median': the median confidence of the given images' tokens
    out = run_tool(['tools/visualize_token_labels.py', str(LABELER),
                    str(ckpt), *map(str, images), '--out-dir', str(out_dir),
                    '--confidence-threshold', 'median'])
    stats = json.loads((out_dir / 'token_label_stats.json').read_text())
    from stl_mm.apis import init_model, token_label_records
    import numpy as np
    model = init_model(str(LABELER), str(ckpt))
    scores = np.concatenate([r['token_scores'].ravel() for r in
                             token_label_records(model, list(map(str,
                                                                 images)))])
    assert stats['confidence_threshold'] == pytest.approx(
        float(np.median(scores)))
    bad = run_tool(['tools/visualize_token_labels.py', str(LABELER),
                    str(ckpt), str(images[0]), '--out-dir', str(out_dir),
                    '--confidence-threshold', 'high'], check=False)
    assert bad.returncode == 2 and '--confidence-threshold' in bad.stderr


def test_visualize_token_labels_refuses_a_non_token_model(demo_root,
                                                          tmp_path):
    ckpt = _checkpoint(BASELINE, tmp_path / 'baseline.pth')
    image = sorted((demo_root / 'cls' / 'val').glob('*/0000.png'))[0]
    out = run_tool(['tools/visualize_token_labels.py', str(BASELINE),
                    str(ckpt), str(image), '--out-dir', str(tmp_path)],
                   check=False)
    assert out.returncode == 2
    assert 'no per-token logits' in out.stderr + out.stdout
    assert 'Traceback' not in out.stderr


def test_token_label_records_and_stats(demo_root):
    """Gumbel samples follow the seed; stats split object and background
    tokens with the demo masks."""
    import numpy as np

    from stl_mm.apis import init_model
    from stl_mm.apis import token_label_records, token_label_stats
    torch.manual_seed(0)
    model = init_model(str(LABELER))
    model.dataset_meta = {'classes': DEMO_CLASSES}
    images = [str(p) for p in sorted(
        (demo_root / 'cls' / 'val').glob('*/*.png'))]
    first = token_label_records(model, images, seed=1)
    second = token_label_records(model, images, seed=1)
    other = token_label_records(model, images, seed=2)
    same = all(np.array_equal(a['gumbel_labels'], b['gumbel_labels'])
               for a, b in zip(first, second))
    differ = any(not np.array_equal(a['gumbel_labels'], b['gumbel_labels'])
                 for a, b in zip(first, other))
    assert same and differ
    for r in first:
        assert r['image'].shape == (64, 64, 3)
        assert r['mask'] is not None and r['mask'].any()
        assert r['gt_label'] == DEMO_CLASSES.index(
            Path(r['img_path']).parent.name)
        assert r['token_object_share'].shape == (4, 4)
    stats = token_label_stats(first)
    assert stats['num_images'] == len(images)
    assert stats['object_tokens'] > 0 and stats['background_tokens'] > 0
    assert 0 <= stats['gumbel_keeps_argmax'] <= 1
    # the AUC is the rank statistic of object vs background confidences
    from stl_mm.evaluation.paired_stats import binary_auc
    obj, bg = [], []
    for r in first:
        obj += list(r['token_scores'][r['token_object_share'] >= 0.5])
        bg += list(r['token_scores'][r['token_object_share'] == 0])
    assert stats['confidence_auc'] == pytest.approx(
        binary_auc(obj + bg, [True] * len(obj) + [False] * len(bg)))
