"""TokenLabelHead: outputs, loss formulas against hand computation, dynamic
dense weight, fusion rules, init scale."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmpretrain.structures import DataSample

from stl_mm.models.heads import TokenLabelHead
from stl_mm.registry import MODELS
from stl_mm.utils import register_all_modules

B, N, C, K = 3, 4, 6, 5


@pytest.fixture(autouse=True, scope='module')
def _scope():
    register_all_modules()


def _feats(seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    cls = torch.randn(B, C, generator=g).to(dtype)
    patch = torch.randn(B, N, C, generator=g).to(dtype)
    return ((cls, patch), )


def _samples(labels=(0, 3, 4)):
    return [DataSample().set_gt_label(lb) for lb in labels]


def _soft_ce(logits, target):
    """sum(-t * log_softmax) per row, averaged over rows (by hand)."""
    return (-(target * F.log_softmax(logits.double(), -1))).sum(-1).mean()


def _head(**kwargs):
    head = TokenLabelHead(num_classes=K, in_channels=C, **kwargs)
    head.init_weights()
    return head


def test_forward_shapes_and_registry():
    head = MODELS.build(dict(type='stl_mm.TokenLabelHead', num_classes=K,
                             in_channels=C))
    cls_logits, token_logits = head(_feats())
    assert cls_logits.shape == (B, K)
    assert token_logits.shape == (B, N, K)
    # every token goes through the same aux_fc
    cls, patch = _feats()[0]
    torch.testing.assert_close(token_logits[1, 2], head.aux_fc(patch[1, 2]))
    torch.testing.assert_close(cls_logits, head.fc(cls))


def test_bad_backbone_output_is_a_clear_error():
    head = _head()
    with pytest.raises(TypeError, match='cls_and_patch'):
        head((torch.randn(B, C), ))


def test_student_loss_matches_hand_computation():
    head = _head(mode='student', cls_weight=0.7, dense_weight=1.3,
                 label_smooth=0.1)
    feats = _feats()
    g = torch.Generator().manual_seed(1)
    token_targets = torch.rand(B, N, K, generator=g)
    token_targets /= token_targets.sum(-1, keepdim=True)
    losses = head.loss(feats, _samples(), token_targets=token_targets)

    cls_logits, token_logits = head(feats)
    y = F.one_hot(torch.tensor([0, 3, 4]), K).double() * 0.9 + 0.1 / K
    expected_cls = 0.7 * _soft_ce(cls_logits, y)
    # mean over tokens (and batch) of the per-token CE
    per_token = torch.stack([
        _soft_ce(token_logits[b, n:n + 1], token_targets[b, n:n + 1])
        for b in range(B) for n in range(N)
    ])
    expected_dense = 1.3 * per_token.mean()
    assert losses['loss_cls'].dtype == torch.float32
    torch.testing.assert_close(losses['loss_cls'].double(), expected_cls)
    torch.testing.assert_close(losses['loss_dense'].double(), expected_dense)


def test_soft_gt_score_is_used_and_smoothed():
    head = _head(label_smooth=0.1, mode='labeler')
    feats = _feats()
    score = torch.softmax(torch.randn(B, K), -1)
    samples = [DataSample().set_gt_label(0).set_gt_score(s) for s in score]
    losses = head.loss(feats, samples)
    cls_logits, token_logits = head(feats)
    y = score.double() * 0.9 + 0.1 / K
    torch.testing.assert_close(losses['loss_cls'].double(),
                               _soft_ce(cls_logits, y))
    torch.testing.assert_close(losses['loss_dense'].double(),
                               _soft_ce(token_logits.mean(1), y))


def test_labeler_modes():
    feats = _feats()
    head = _head(mode='labeler', cls_weight=1.0, dense_weight=0.5)
    losses = head.loss(feats, _samples())
    cls_logits, token_logits = head(feats)
    y = F.one_hot(torch.tensor([0, 3, 4]), K).double()
    torch.testing.assert_close(losses['loss_cls'].double(),
                               _soft_ce(cls_logits, y))
    torch.testing.assert_close(losses['loss_dense'].double(),
                               0.5 * _soft_ce(token_logits.mean(1), y))

    head.mode = 'labeler_mean'
    losses = head.loss(feats, _samples())
    assert float(losses['loss_cls']) == 0.
    torch.testing.assert_close(losses['loss_dense'].double(),
                               0.5 * _soft_ce(token_logits.mean(1), y))
    # the class term stays in the graph (DDP needs every parameter used)
    sum(losses.values()).backward()
    assert head.fc.weight.grad is not None
    assert float(head.fc.weight.grad.abs().sum()) == 0.


def test_student_mode_requires_token_targets():
    head = _head(mode='student')
    with pytest.raises(ValueError, match='token_targets'):
        head.loss(_feats(), _samples())
    with pytest.raises(ValueError, match='do not match'):
        head.loss(_feats(), _samples(), token_targets=torch.zeros(B, N, 2))


def test_loss_is_float32_under_low_precision_logits():
    head = _head(mode='student').to(torch.bfloat16)
    feats = _feats(dtype=torch.bfloat16)
    targets = torch.full((B, N, K), 1. / K)
    losses = head.loss(feats, _samples(), token_targets=targets)
    assert losses['loss_cls'].dtype == torch.float32
    assert losses['loss_dense'].dtype == torch.float32
    cls_logits, token_logits = head(feats)
    torch.testing.assert_close(
        losses['loss_dense'].double(),
        _soft_ce(token_logits.float().reshape(-1, K),
                 targets.reshape(-1, K)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('epoch,factor', [(0, 0.), (75, 0.5), (300, 1.),
                                          (400, 1.)])
def test_dynamic_dense_weight_follows_message_hub_epoch(epoch, factor):
    head = _head(dense_weight=2.0, dynamic_dense_weight=True)
    hub = MessageHub.get_instance(f'stl_test_{epoch}')
    hub.update_info('epoch', epoch)
    assert MessageHub.get_current_instance() is hub
    assert math.isclose(head.current_dense_weight(), 2.0 * factor)
    static = _head(dense_weight=2.0)
    assert static.current_dense_weight() == 2.0


def test_fusion_rules():
    feats = _feats()
    head = _head()
    cls_logits, token_logits = head(feats)
    expected = {
        'cls': cls_logits,
        'cls_plus_max': cls_logits + 0.5 * token_logits.max(1).values,
        'mean_tokens': token_logits.mean(1),
    }
    for fusion, scores in expected.items():
        torch.testing.assert_close(head.fuse(cls_logits, token_logits,
                                             fusion), scores)
        # configured rule (as --cfg-options model.head.fusion=...)
        configured = _head(fusion=fusion)
        configured.load_state_dict(head.state_dict())
        preds = configured.predict(feats)
        torch.testing.assert_close(
            torch.stack([p.pred_score for p in preds]),
            torch.softmax(scores, 1))
        assert [int(p.pred_label) for p in preds] == \
            scores.argmax(1).tolist()
    # per-call override
    preds = head.predict(feats, fusion='mean_tokens')
    torch.testing.assert_close(torch.stack([p.pred_score for p in preds]),
                               torch.softmax(expected['mean_tokens'], 1))
    with pytest.raises(ValueError):
        _head(fusion='max')


def test_init_scale_scales_the_class_head():
    torch.manual_seed(0)
    plain = _head()
    torch.manual_seed(0)
    scaled = _head(init_scale=1e-3)
    torch.testing.assert_close(scaled.fc.weight, plain.fc.weight * 1e-3)
    torch.testing.assert_close(scaled.aux_fc.weight, plain.aux_fc.weight)
    assert float(plain.fc.bias.abs().sum()) == 0.
    # a second init_weights() does not scale again
    scaled.init_weights()
    torch.testing.assert_close(scaled.fc.weight, plain.fc.weight * 1e-3)
