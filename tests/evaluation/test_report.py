"""Report numbers (stl_mm.evaluation.classification_report) against a hand
computation, the training curves of an mmengine scalars log, and the files
of stl_mm.apis.report.write_report."""
import json
import os.path as osp

import numpy as np
import pytest

from stl_mm.apis.report import write_report
from stl_mm.evaluation import (classification_report, format_per_class_table,
                               predictions_to_arrays, training_curves)

# 6 images, 3 classes; arg-max predictions: 0, 0, 1, 2, 2, 0
SCORES = np.array([[0.7, 0.2, 0.1],
                   [0.5, 0.4, 0.1],
                   [0.2, 0.6, 0.2],
                   [0.1, 0.3, 0.6],
                   [0.3, 0.1, 0.6],
                   [0.4, 0.35, 0.25]])
LABELS = np.array([0, 1, 1, 2, 0, 2])
CLASSES = ['cat', 'dog', 'gull']


def test_numbers_match_a_hand_computation():
    r = classification_report(SCORES, LABELS, CLASSES)
    # correct: images 0, 2, 3 -> 3 of 6
    assert r['top1'] == pytest.approx(50.0)
    assert r['topk'] == 3 and r['top5'] == pytest.approx(100.0)
    # rows true, columns predicted
    assert r['confusion_matrix'] == [[1, 0, 1], [1, 1, 0], [1, 0, 1]]
    # cat: predicted 0 for images 0, 1, 5 (1 right); 2 true cats
    expected = dict(cat=(1 / 3, 1 / 2, 2), dog=(1., 1 / 2, 2),
                    gull=(1 / 2, 1 / 2, 2))
    for name, (p, rc, n) in expected.items():
        c = r['per_class'][name]
        f1 = 2 * p * rc / (p + rc)
        assert c['precision'] == pytest.approx(100 * p, abs=1e-4)
        assert c['recall'] == pytest.approx(100 * rc, abs=1e-4)
        assert c['f1'] == pytest.approx(100 * f1, abs=1e-4)
        assert c['support'] == n
    assert r['macro']['f1'] == pytest.approx(
        np.mean([r['per_class'][c]['f1'] for c in CLASSES]))
    # AUC of "dog vs rest": dog scores 0.4, 0.6 vs others 0.2, 0.3, 0.1,
    # 0.35 -> every positive above every negative
    assert r['roc']['dog']['auc'] == pytest.approx(1.0)
    # cat: positives 0.7, 0.3; negatives 0.5, 0.2, 0.1, 0.4 -> pairs won:
    # 0.7 beats 4, 0.3 beats 2 (0.2, 0.1) -> 6 / 8
    assert r['roc']['cat']['auc'] == pytest.approx(6 / 8)
    assert r['roc']['cat']['fpr'][0] == 0. and r['roc']['cat']['tpr'][-1] == 1.
    assert r['num_samples'] == 6
    table = format_per_class_table(r)
    assert '| dog | 100.00 | 50.00 | 66.67 | 2 | 1.000 |' in table


def test_class_without_val_images_has_no_auc():
    r = classification_report(SCORES[:4], np.array([0, 1, 1, 0]), CLASSES)
    assert r['roc']['gull']['auc'] is None
    assert r['per_class']['gull']['support'] == 0
    assert r['macro']['auc'] == pytest.approx(np.mean(
        [r['roc'][c]['auc'] for c in ('cat', 'dog')]))


def test_predictions_of_dump_results_to_arrays():
    import torch
    records = [dict(pred_score=torch.tensor(s, dtype=torch.float32),
                    gt_label=torch.tensor([int(lb)]))
               for s, lb in zip(SCORES, LABELS)]
    scores, labels = predictions_to_arrays(records)
    np.testing.assert_allclose(scores, SCORES, atol=1e-6)
    np.testing.assert_array_equal(labels, LABELS)


def test_training_curves_from_the_scalars_log(tmp_path):
    log = tmp_path / '20260101_000000' / 'vis_data'
    log.mkdir(parents=True)
    lines = [dict(lr=1e-4, loss=2.0, epoch=1, iter=1, step=1),
             dict(lr=1e-4, loss=1.0, epoch=1, iter=2, step=2),
             {'accuracy/top1': 40.0, 'data_time': 0.1, 'step': 1},
             dict(lr=1e-4, loss=0.5, epoch=2, iter=3, step=3),
             {'accuracy/top1': 55.0, 'step': 2}]
    (log / 'scalars.json').write_text(
        '\n'.join(json.dumps(x) for x in lines) + '\n')
    curves = training_curves(str(tmp_path))
    assert curves == dict(epoch=[1, 2], loss=[1.5, 0.5], val_epoch=[1, 2],
                          val_top1=[40.0, 55.0])
    assert training_curves(str(tmp_path / 'none')) == dict(
        epoch=[], loss=[], val_epoch=[], val_top1=[])


def test_write_report_writes_table_json_and_figures(tmp_path):
    r = write_report(SCORES, LABELS, CLASSES, str(tmp_path), name='model',
                     metrics={'accuracy/top1': 50.0})
    assert osp.basename(r['figures']['confusion']) == \
        'model_confusion_matrix.png'
    assert osp.basename(r['figures']['roc']) == 'model_roc_curves.png'
    for path in list(r['figures'].values()) + list(r['files'].values()):
        assert osp.getsize(path) > 0
    saved = json.load(open(r['files']['json'], encoding='utf-8'))
    assert saved['per_class'] == r['per_class']
    assert saved['metrics'] == {'accuracy/top1': 50.0}
    assert '| cat |' in open(r['files']['table'], encoding='utf-8').read()


def test_many_classes_draw_without_per_cell_text(tmp_path):
    rng = np.random.default_rng(0)
    scores = rng.random((200, 40))
    labels = np.arange(200) % 40
    r = write_report(scores, labels, [f'c{k}' for k in range(40)],
                     str(tmp_path))
    assert osp.getsize(r['figures']['roc']) > 0
    assert osp.getsize(r['figures']['confusion']) > 0
