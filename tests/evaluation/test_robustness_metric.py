"""ImageNet-C / ImageNet-A/R metrics: hand-computed values, completeness."""
import csv
import json
import os
import os.path as osp
import statistics

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel

from stl_mm.evaluation.metrics.robustness import (ALEXNET_ERRORS,
                                                  ImageNetCMetric,
                                                  OODSubsetMetric)
from stl_mm.registry import MODELS
from stl_mm.robustness.corruptions import (ALL_CORRUPTIONS,
                                           COMMON_CORRUPTIONS,
                                           EXTRA_CORRUPTIONS)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
WNIDS = ['n01440764', 'n01443537']  # the first two of the sorted 1000

# The AlexNet errors of the spec table, typed in again on purpose.
SPEC_ALEXNET = {
    'gaussian_noise': 0.886428, 'shot_noise': 0.894468,
    'impulse_noise': 0.922640, 'defocus_blur': 0.819880,
    'glass_blur': 0.826268, 'motion_blur': 0.785948, 'zoom_blur': 0.798360,
    'snow': 0.866816, 'frost': 0.826572, 'fog': 0.819324,
    'brightness': 0.564592, 'contrast': 0.853204,
    'elastic_transform': 0.646056, 'pixelate': 0.717840,
    'jpeg_compression': 0.606500,
}


@MODELS.register_module(name='PixelCodeClassifier', force=True)
class PixelCodeClassifier(BaseModel):
    """Test model: the image says what it predicts.

    Scores class k by -|m - k * step| with m the mean of the first input
    channel, so the top class is round(m / step) and the ranking is fixed.
    """

    def __init__(self, num_classes: int, step: float = 50.0,
                 data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor or dict(
            type='mmpretrain.ClsDataPreprocessor'))
        self.num_classes = num_classes
        self.step = step
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        value = inputs[:, 0].float().mean(dim=(1, 2))
        classes = torch.arange(self.num_classes, dtype=torch.float32)
        scores = -(value[:, None] - classes * self.step).abs() \
            - 1e-3 * classes
        if mode == 'tensor':
            return scores
        if mode == 'loss':
            return dict(loss=self.dummy.sum())
        probs = scores.softmax(dim=1)
        for sample, prob in zip(data_samples, probs):
            sample.set_pred_score(prob).set_pred_label(prob.argmax())
        return data_samples


def _acc_common(severity):
    return {1: 100, 2: 100, 3: 50, 4: 0, 5: 0}[severity]


def _acc_extra(severity):
    return 50 if severity == 5 else 100


def write_imagenet_c(root, step=50):
    """2 classes x 1 image per pair; accuracy per pair as _acc_* say."""
    for c in ALL_CORRUPTIONS:
        for s in range(1, 6):
            acc = _acc_common(s) if c in COMMON_CORRUPTIONS else _acc_extra(s)
            for label, wnid in enumerate(WNIDS):
                # acc 50: class 0 right, class 1 wrong
                right = acc == 100 or (acc == 50 and label == 0)
                pred = label if right else 1 - label
                folder = osp.join(root, c, str(s), wnid)
                os.makedirs(folder, exist_ok=True)
                img = np.full((32, 40, 3), pred * step, np.uint8)
                cv2.imwrite(osp.join(folder, f'{c}_{s}_{label}.JPEG'), img)


def test_alexnet_constants_match_spec():
    assert ALEXNET_ERRORS == SPEC_ALEXNET
    assert set(ALEXNET_ERRORS) == set(COMMON_CORRUPTIONS)
    assert len(EXTRA_CORRUPTIONS) == 4


def test_imagenet_c_hand_computed_through_runner(tmp_path):
    """mCE and IN-C accuracy of a model whose predictions are fixed by the
    image files, evaluated through mmengine's Runner test loop with the
    shipped ImageNet-C config."""
    from mmengine.runner import Runner
    root = str(tmp_path / 'imagenet-c')
    write_imagenet_c(root)
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/robustness/_base_/imagenet-c.py'))
    cfg.test_dataloader = cfg.pop('robustness_test_dataloader')
    cfg.test_evaluator = cfg.pop('robustness_test_evaluator')
    cfg.test_dataloader.pop('_delete_')
    cfg.test_evaluator.pop('_delete_')
    cfg.merge_from_dict({
        'test_dataloader.dataset.data_root': root,
        'test_dataloader.dataset.wnids': WNIDS,
        'test_dataloader.batch_size': 32,
        'test_dataloader.num_workers': 0,
        'test_dataloader.pin_memory': False,
        'test_evaluator.output_prefix': str(tmp_path / 'out' / 'inc'),
        'test_evaluator.per_corruption': True,
    })
    cfg.model = dict(type='stl_mm.PixelCodeClassifier', num_classes=2,
                     step=50)
    cfg.default_scope = 'mmpretrain'
    cfg.test_cfg = dict()
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = 'inc_hand'
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()

    # Hand computation: every common corruption has top-1 100, 100, 50, 0,
    # 0 over severities -> mean error 0.5 -> CE_c = 0.5 / A_c; mCE is the
    # mean over the 15 (percent): 100 * 0.5 * mean(1 / A_c) = 64.6726.
    # Extra corruptions: 100, 100, 100, 100, 50 -> 90.
    # IN-C acc = (15 * 50 + 4 * 90) / 19 = 58.4211.
    assert metrics['imagenet-c/mCE'] == pytest.approx(64.67257, abs=1e-4)
    assert metrics['imagenet-c/mCE'] == pytest.approx(
        100 * 0.5 * statistics.mean(1 / a for a in SPEC_ALEXNET.values()))
    assert metrics['imagenet-c/acc'] == pytest.approx(1110 / 19)
    assert metrics['imagenet-c/acc_common'] == pytest.approx(50)
    assert metrics['imagenet-c/acc_extra'] == pytest.approx(90)
    assert metrics['imagenet-c/acc_top5'] == pytest.approx(100)
    assert metrics['imagenet-c/fog/top1'] == pytest.approx(50)
    assert metrics['imagenet-c/fog/CE'] == pytest.approx(50 / 0.819324)
    assert metrics['imagenet-c/saturate/top1'] == pytest.approx(90)
    assert 'imagenet-c/saturate/CE' not in metrics
    assert not any(k.endswith('_partial') for k in metrics)

    with open(tmp_path / 'out' / 'inc.json') as f:
        saved = json.load(f)
    assert saved['partial'] == [] and saved['missing_pairs'] == []
    assert saved['num_samples'] == 19 * 5 * 2
    assert saved['corruptions']['fog']['severities']['3'] == dict(
        top1=50.0, top5=100.0, num_samples=2)
    with open(tmp_path / 'out' / 'inc.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 19 * 6
    fog4 = [r for r in rows if r['corruption'] == 'fog' and
            r['severity'] == '4'][0]
    assert float(fog4['top1']) == 0.0


def _samples(pairs_acc, n=2, num_classes=3):
    """Fake data samples: n per pair, the first round(acc*n/100) right."""
    out = []
    for (c, s), acc in pairs_acc.items():
        right = round(acc * n / 100)
        for i in range(n):
            label = i % num_classes
            pred = label if i < right else (label + 1) % num_classes
            score = torch.full((num_classes, ), 0.1)
            score[pred] = 0.8
            out.append(dict(pred_score=score, gt_label=torch.tensor([label]),
                            corruption=c, severity=s))
    return out


def _full_pairs(acc=100):
    return {(c, s): acc for c in ALL_CORRUPTIONS for s in range(1, 6)}


def _evaluate(metric, samples):
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def test_missing_pair_is_an_error():
    pairs = _full_pairs()
    del pairs[('jpeg_compression', 2)]
    metric = ImageNetCMetric()
    samples = _samples(pairs)
    metric.process({}, samples)
    with pytest.raises(ValueError, match='jpeg_compression/2') as info:
        metric.evaluate(len(samples))
    # the tools print it as one message (exit 2), not a traceback
    from stl_mm.utils.cli import explain
    assert 'Pass allow_partial=True' in explain(info.value)


def test_partial_marks_every_affected_aggregate(tmp_path):
    pairs = _full_pairs()
    pairs[('fog', 3)] = 50
    del pairs[('fog', 5)]
    metric = ImageNetCMetric(allow_partial=True, per_corruption=True,
                             output_prefix=str(tmp_path / 'p'))
    with pytest.warns(UserWarning, match='partial'):
        res = _evaluate(metric, _samples(pairs))
    for key in ('acc', 'acc_top5', 'mCE', 'acc_common', 'fog/top1',
                'fog/CE'):
        assert f'imagenet-c/{key}' not in res
        assert f'imagenet-c/{key}_partial' in res
    # the extra corruptions are complete, so their mean is not partial
    assert res['imagenet-c/acc_extra'] == pytest.approx(100)
    assert res['imagenet-c/frost/top1'] == pytest.approx(100)
    # fog over severities 1-4: errors 0, 0, .5, 0 -> CE = .125 / A_fog
    assert res['imagenet-c/fog/CE_partial'] == pytest.approx(
        100 * 0.125 / 0.819324)
    assert res['imagenet-c/mCE_partial'] == pytest.approx(
        100 * 0.125 / 0.819324 / 15)
    saved = json.loads((tmp_path / 'p.json').read_text())
    assert saved['missing_pairs'] == [['fog', 5]]
    assert 'mCE_partial' in saved['partial']


def test_subset_of_corruptions_is_partial_not_error():
    pairs = {('fog', s): 100 for s in range(1, 6)}
    metric = ImageNetCMetric(corruptions=['fog'], per_corruption=True)
    with pytest.warns(UserWarning):
        res = _evaluate(metric, _samples(pairs))
    assert res['imagenet-c/fog/top1'] == 100
    assert res['imagenet-c/fog/CE'] == 0
    assert 'imagenet-c/mCE_partial' in res
    assert 'imagenet-c/acc_extra' not in res
    assert 'imagenet-c/acc_extra_partial' not in res


def test_unexpected_pair_and_missing_metainfo():
    metric = ImageNetCMetric(corruptions=['fog'])
    metric.process({}, _samples({('frost', 1): 100}))
    with pytest.raises(ValueError, match='frost/1'):
        metric.evaluate(1)
    sample = _samples({('fog', 1): 100})[0]
    del sample['corruption']
    with pytest.raises(KeyError, match='meta_keys'):
        ImageNetCMetric().process({}, [sample])


def test_metric_follows_dataset_metainfo():
    metric = ImageNetCMetric()
    metric.dataset_meta = dict(corruptions=('fog', ), severities=(1, 2))
    metric.process({}, _samples({('fog', 1): 100}))
    with pytest.raises(ValueError, match='fog/2'):
        metric.evaluate(1)


def test_ood_subset_restricts_logits_before_topk(tmp_path):
    indices = [1, 3, 5]
    scores = torch.tensor([
        # global argmax 0 (outside the subset); inside: column 3 = label 1
        [0.50, 0.05, 0.0, 0.30, 0.0, 0.15],
        # inside the subset column 5 wins, label 0 (column 1) second
        [0.00, 0.20, 0.5, 0.00, 0.0, 0.30],
    ])
    samples = [dict(pred_score=scores[0], gt_label=torch.tensor([1])),
               dict(pred_score=scores[1], gt_label=torch.tensor([0]))]
    metric = OODSubsetMetric(indices=indices, topk=(1, 2),
                             output_prefix=str(tmp_path / 'a'))
    res = _evaluate(metric, samples)
    assert res == {'ood-subset/top1': 50.0, 'ood-subset/top2': 100.0}
    saved = json.loads((tmp_path / 'a.json').read_text())
    assert saved['num_samples'] == 2 and saved['num_classes'] == 3

    # the same columns from the dataset metainfo
    metric = OODSubsetMetric(prefix='imagenet-a')
    metric.dataset_meta = dict(logit_indices=tuple(indices))
    res = _evaluate(metric, samples)
    assert res['imagenet-a/top1'] == 50.0
    assert res['imagenet-a/top5'] == 100.0  # fewer than 5 classes


def test_ood_subset_index_sources_and_errors():
    from stl_mm.datasets.robustness import subset_indices
    metric = OODSubsetMetric(subset='imagenet_r')
    assert metric.fixed_indices == subset_indices('imagenet_r')
    assert metric.prefix == 'imagenet-r'
    metric.dataset_meta = dict(logit_indices=(0, 1))
    sample = dict(pred_score=torch.rand(1000), gt_label=torch.tensor([0]))
    with pytest.raises(ValueError, match='misaligned'):
        metric.process({}, [sample])
    with pytest.raises(ValueError, match='subset columns'):
        OODSubsetMetric().process({}, [sample])
    small = OODSubsetMetric(indices=[0, 12])
    with pytest.raises(ValueError, match='column 12'):
        small.process({}, [dict(pred_score=torch.rand(10),
                                gt_label=torch.tensor([0]))])


def test_compact_results_and_other_names():
    from stl_mm.evaluation.metrics.robustness import _encode
    metric = ImageNetCMetric()
    metric.process({}, _samples({('fog', 3): 50}))
    assert all(type(r) is int for r in metric.results)
    results = metric.results + [_encode('my_blur', 2, True, True),
                                _encode('my_blur', 2, False, True)]
    grouped = ImageNetCMetric._group(results)
    assert grouped[('fog', 3)] == dict(top1=50.0, top5=100.0, num_samples=2)
    assert grouped[('my_blur', 2)] == dict(top1=50.0, top5=100.0,
                                           num_samples=2)
