"""stl_mm.apis: init_model (variant names, configs, our and upstream
checkpoints) and inference_model (paths, arrays, top-k, token labels)."""
import argparse
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch

from stl_mm.apis import inference_model, init_model
from stl_mm.models.utils import classifier_to_upstream

REPO = Path(__file__).resolve().parents[2]
LABELER = REPO / 'configs/stl/demo/fan_demo_token_labeler.py'
STUDENT = REPO / 'configs/stl/demo/fan_demo_student.py'
BASELINE = REPO / 'configs/stl/demo/fan_demo_baseline.py'
DEMO_CLASSES = ['class_00_disc', 'class_01_square', 'class_02_triangle',
                'class_03_cross']


pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def tiny_token_variant():
    """The smallest upstream token variant (7.7M parameters), random init."""
    torch.manual_seed(0)
    return init_model('fan_tiny_8_p4_hybrid_token')


def _demo_images(demo_root, n=4):
    files = sorted((demo_root / 'cls' / 'val').glob('*/*.png'))
    # one image per class first
    by_class = {}
    for f in files:
        by_class.setdefault(f.parent.name, []).append(f)
    chosen = [v[0] for v in by_class.values()]
    return [str(f) for f in chosen[:n]]


def _perturbed(state, seed):
    g = torch.Generator().manual_seed(seed)
    return {k: (v + 0.01 * torch.randn(v.shape, generator=g)
                if v.is_floating_point() else v.clone())
            for k, v in state.items()}


# ---------------------------------------------------------------------------
# init_model
# ---------------------------------------------------------------------------
def test_variant_name_builds_a_token_model(tiny_token_variant):
    model = tiny_token_variant
    assert not model.training
    assert type(model.head).__name__ == 'TokenLabelHead'
    with torch.no_grad():
        cls_logits, token_logits = model(torch.randn(2, 3, 64, 64),
                                         mode='tensor')
    assert cls_logits.shape == (2, 1000)
    assert token_logits.shape == (2, 16, 1000)  # (64 / 16) ** 2 tokens
    # the config's normalisation is part of the model
    assert torch.allclose(model.data_preprocessor.mean.flatten(),
                          torch.tensor([123.675, 116.28, 103.53]))
    assert model.data_preprocessor.to_rgb  # BGR -> RGB
    # 1000 classes without other names: ImageNet's
    assert len(model.dataset_meta['classes']) == 1000


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ValueError, match='neither an upstream FAN variant'):
        init_model('fan_tiny_9_p4_hybrid_tokn')


def test_upstream_checkpoint_prefers_ema(tiny_token_variant, tmp_path):
    reference = tiny_token_variant
    ema = _perturbed(reference.state_dict(), 1)
    raw = _perturbed(reference.state_dict(), 2)
    path = tmp_path / 'fan_tiny_8_p4_hybrid_token.pth.tar'
    torch.save(dict(
        epoch=349, arch='fan_tiny_8_p4_hybrid_token',
        state_dict={f'module.{k}': v
                    for k, v in classifier_to_upstream(raw).items()},
        state_dict_ema={f'module.{k}': v
                        for k, v in classifier_to_upstream(ema).items()},
        args=argparse.Namespace(model='fan_tiny_8_p4_hybrid_token')), path)

    x = torch.randn(1, 3, 64, 64)
    for prefer_ema, expected in ((True, ema), (False, raw)):
        model = init_model('fan_tiny_8_p4_hybrid_token', str(path),
                           prefer_ema=prefer_ema)
        state = model.state_dict()
        for key in ('backbone.blocks.0.attn.q.weight', 'head.fc.weight',
                    'head.aux_fc.bias'):
            assert torch.equal(state[key], expected[key]), key
        reference.load_state_dict(expected)
        with torch.no_grad():
            for a, b in zip(model(x, mode='tensor'),
                            reference(x, mode='tensor')):
                assert torch.allclose(a, b, atol=1e-5)


def test_checkpoint_of_another_variant_is_refused(tmp_path):
    small = init_model(str(LABELER))
    path = tmp_path / 'labeler.pth'
    torch.save({'state_dict': small.state_dict()}, path)
    with pytest.raises(Exception, match='(?i)variant|shape|match|size'):
        init_model('fan_tiny_8_p4_hybrid_token', str(path))


def test_our_checkpoint_with_class_names(tmp_path):
    torch.manual_seed(0)
    model = init_model(str(LABELER))
    path = tmp_path / 'epoch_1.pth'
    torch.save({'meta': {'dataset_meta': {'classes': DEMO_CLASSES}},
                'state_dict': model.state_dict()}, path)
    loaded = init_model(str(LABELER), str(path))
    assert loaded.dataset_meta['classes'] == DEMO_CLASSES
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_stl_student_config_builds_the_student_alone(tmp_path):
    """The student config names a teacher checkpoint that need not exist
    for inference: the student is built as a plain classifier."""
    torch.manual_seed(0)
    model = init_model(str(STUDENT), cfg_options={
        'model.teacher.checkpoint': str(tmp_path / 'missing.pth')})
    assert type(model).__name__ == 'ImageClassifier'
    assert not hasattr(model, 'teacher')
    assert type(model.data_preprocessor).__name__ == 'ClsDataPreprocessor'
    path = tmp_path / 'student.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    loaded = init_model(str(STUDENT), str(path))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(model(x, mode='tensor'), loaded(x, mode='tensor')):
            assert torch.allclose(a, b)


# ---------------------------------------------------------------------------
# inference_model
# ---------------------------------------------------------------------------
def test_paths_and_arrays_give_the_same_result(demo_root, tmp_path):
    torch.manual_seed(0)
    model = init_model(str(LABELER))
    model.dataset_meta = {'classes': DEMO_CLASSES}
    paths = _demo_images(demo_root)
    by_path = inference_model(model, paths, topk=3, batch_size=3)
    by_array = inference_model(model, [mmcv.imread(p) for p in paths],
                               topk=3)
    assert len(by_path) == len(by_array) == len(paths)
    for a, b in zip(by_path, by_array):
        assert a['topk_labels'] == b['topk_labels']
        assert np.allclose(a['topk_scores'], b['topk_scores'], atol=1e-6)
        assert len(a['topk_labels']) == 3
        assert a['topk_scores'] == sorted(a['topk_scores'], reverse=True)
        assert a['pred_label'] == a['topk_labels'][0]
        assert a['pred_class'] == DEMO_CLASSES[a['pred_label']]
        assert a['topk_classes'] == [DEMO_CLASSES[k]
                                     for k in a['topk_labels']]
        assert a['token_labels'].shape == (4, 4)  # 64 / 16
        assert a['token_scores'].shape == (4, 4)
        assert np.array_equal(a['token_labels'], b['token_labels'])
        assert ((a['token_scores'] >= 0.25 - 1e-6)
                & (a['token_scores'] <= 1)).all()
    # a single path gives a list of one; topk is capped at K
    single = inference_model(model, paths[0], topk=10)
    assert len(single) == 1 and len(single[0]['topk_labels']) == 4
    assert np.isclose(sum(single[0]['topk_scores']), 1.0, atol=1e-5)


def test_token_outputs_match_the_model(demo_root):
    torch.manual_seed(0)
    model = init_model(str(LABELER))
    path = _demo_images(demo_root, 1)[0]
    result = inference_model(model, path, return_token_probs=True)[0]
    image = mmcv.imread(path)
    x = torch.from_numpy(image[..., ::-1].copy()).permute(2, 0, 1)[None]
    x = (x.float() - torch.tensor([123.675, 116.28, 103.53]).view(
        1, 3, 1, 1)) / torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    with torch.no_grad():
        cls_logits, token_logits = model(x, mode='tensor')
    probs = token_logits[0].softmax(-1).reshape(4, 4, -1).numpy()
    assert np.allclose(result['token_probs'], probs, atol=1e-5)
    assert np.array_equal(result['token_labels'], probs.argmax(-1))
    assert np.allclose(result['token_scores'], probs.max(-1), atol=1e-6)
    assert np.allclose(result['topk_scores'][0],
                       cls_logits.softmax(-1).max().item(), atol=1e-5)


def test_images_of_different_sizes(tmp_path):
    """A test pipeline that keeps the image size (the demo's resizes and
    crops to 64): images of different sizes are batched by shape."""
    torch.manual_seed(0)
    model = init_model(str(LABELER), cfg_options={
        'test_dataloader.dataset.pipeline': [
            dict(type='stl_mm.LoadImageFromFile'), dict(type='PackInputs')]})
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8),
              rng.integers(0, 255, (96, 64, 3), dtype=np.uint8),
              rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)]
    results = inference_model(model, images)
    assert [r['token_labels'].shape for r in results] == [(4, 4), (6, 4),
                                                          (4, 4)]
    # batched or alone: same numbers
    alone = inference_model(model, images[2])[0]
    assert np.allclose(alone['topk_scores'], results[2]['topk_scores'],
                       atol=1e-5)


def test_variant_pipeline_resizes_to_224(tiny_token_variant):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (120, 180, 3), dtype=np.uint8)
    result = inference_model(tiny_token_variant, image, topk=5)[0]
    assert result['token_labels'].shape == (14, 14)  # 224 / 16
    assert len(result['topk_classes']) == 5


def test_non_token_model_has_no_token_labels(demo_root):
    torch.manual_seed(0)
    model = init_model(str(BASELINE))
    result = inference_model(model, _demo_images(demo_root, 1))[0]
    assert 'token_labels' not in result and 'token_scores' not in result
    assert len(result['topk_labels']) == 4


def test_bad_inputs(tmp_path):
    model = init_model(str(LABELER))
    with pytest.raises(FileNotFoundError, match='Image not found'):
        inference_model(model, str(tmp_path / 'missing.png'))
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'not an image')
    with pytest.raises(ValueError, match='Cannot read the image'):
        inference_model(model, str(broken))
    with pytest.raises(ValueError, match='HxWx3'):
        inference_model(model, np.zeros((64, 64), dtype=np.uint8))
    with pytest.raises(ValueError, match='topk'):
        inference_model(model, np.zeros((64, 64, 3), dtype=np.uint8),
                        topk=0)
