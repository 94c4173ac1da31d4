import pytest
import torch
from mmengine.config import Config

from stl_mm.engine import AutocastOptimWrapper, enable_amp


def test_forward_runs_in_bfloat16_and_step_updates_fp32_weights():
    model = torch.nn.Linear(4, 2)
    wrapper = AutocastOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        out = model(torch.randn(3, 4))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().sum())
    assert model.weight.dtype == torch.float32
    assert not torch.equal(before, model.weight)


def test_bad_dtype_is_rejected():
    with pytest.raises(ValueError, match='bfloat16'):
        AutocastOptimWrapper(
            optimizer=torch.optim.SGD([torch.nn.Parameter(torch.ones(1))],
                                      lr=0.1), dtype='int8')


def test_enable_amp_picks_the_wrapper_for_the_device():
    cfg = Config(dict(optim_wrapper=dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))))
    enable_amp(cfg)
    expected = 'AmpOptimWrapper' if torch.cuda.is_available() else \
        'stl_mm.AutocastOptimWrapper'
    assert cfg.optim_wrapper.type == expected
    cfg = Config(dict(optim_wrapper=dict(type='OtherWrapper')))
    with pytest.raises(ValueError, match='OtherWrapper'):
        enable_amp(cfg)
