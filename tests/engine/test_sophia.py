"""SophiaH (pytorch-optimizer) through mmengine: the registered optimizer,
the optim wrapper that back-propagates with create_graph=True on Hessian
steps, and a tiny FAN with fused attention (whose CPU flash kernel has no
double backward: the wrapper runs those steps with the math SDPA backend)."""
import pytest
import torch
from mmengine.optim import build_optim_wrapper

import stl_mm  # noqa: F401 (registries)
from stl_mm.registry import MODELS
from stl_mm.utils.errors import UserError

TINY = dict(embed_dims=32, depth=2, num_heads=2, stem='hybrid',
            hybrid_depths=[1, 1], dense_index=1)


def tiny_fan(fused=True):
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='mmpretrain.ImageClassifier',
        data_preprocessor=dict(type='mmpretrain.ClsDataPreprocessor',
                               num_classes=3),
        backbone=dict(type='stl_mm.FAN', arch=TINY, fused_attn=fused),
        head=dict(type='mmpretrain.LinearClsHead', num_classes=3,
                  in_channels=32,
                  loss=dict(type='mmpretrain.CrossEntropyLoss'))))


def batch():
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(1)
    inputs = [torch.randint(0, 256, (3, 32, 32), generator=g,
                            dtype=torch.uint8) for _ in range(4)]
    samples = [DataSample().set_gt_label(i % 3) for i in range(4)]
    return dict(inputs=inputs, data_samples=samples)


def sophia_wrapper(model, **optimizer):
    return build_optim_wrapper(model, dict(
        type='stl_mm.HessianOptimWrapper',
        optimizer=dict(type='stl_mm.SophiaH', lr=0.03, weight_decay=5e-4,
                       update_period=2, **optimizer)))


def test_fused_attention_has_no_double_backward_without_the_wrapper():
    model = tiny_fan()
    data = model.data_preprocessor(batch(), True)
    loss = model(**data, mode='loss')['loss']
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params, create_graph=True)
    # Hutchinson's product H z, as SophiaH computes it
    with pytest.raises(RuntimeError, match='not implemented'):
        torch.autograd.grad(grads, params,
                            grad_outputs=[torch.randn_like(p)
                                          for p in params])


def test_sophia_trains_a_tiny_fan_through_fused_attention():
    model = tiny_fan(fused=True)
    wrapper = sophia_wrapper(model)
    assert type(wrapper.optimizer).__name__ == 'SophiaH'
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hessian_steps = []
    for _ in range(3):
        hessian_steps.append(wrapper.needs_hessian())
        model.train_step(batch(), wrapper)
    assert hessian_steps == [True, False, True]  # every update_period=2
    # the Hessian estimate of the first step reached every trained weight
    params = [p for p in model.parameters() if p.requires_grad]
    states = [wrapper.optimizer.state[p] for p in params]
    assert all(torch.isfinite(s['hessian_moment']).all() for s in states)
    assert sum(bool(s['hessian_moment'].abs().sum() > 0)
               for s in states) > 0.9 * len(states)
    changed = [k for k, v in model.state_dict().items()
               if v.dtype.is_floating_point and not torch.equal(v,
                                                                before[k])]
    assert 'backbone.blocks.0.attn.q.weight' in changed
    # gradients (and their graph) are released after each step
    assert all(p.grad is None for p in params)


def test_math_backend_gives_the_fused_numbers():
    fused, plain = tiny_fan(True), tiny_fan(False)
    x = torch.randn(2, 3, 32, 32)
    wrapper = sophia_wrapper(fused)
    with wrapper.optim_context(fused):
        a = fused(x, mode='tensor')
    torch.testing.assert_close(a, plain(x, mode='tensor'), atol=1e-5,
                               rtol=1e-4)


def test_clipping_and_accumulation_are_refused():
    model = tiny_fan()
    for extra in (dict(clip_grad=dict(max_norm=1.0)),
                  dict(accumulative_counts=2)):
        with pytest.raises(UserError):
            build_optim_wrapper(model, dict(
                type='stl_mm.HessianOptimWrapper',
                optimizer=dict(type='stl_mm.SophiaH', lr=0.03), **extra))
