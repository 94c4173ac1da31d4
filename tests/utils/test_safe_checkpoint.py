"""Checkpoint loading never executes pickled code, yet loads real files."""
import argparse
import os

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import load_checkpoint

from stl_mm.utils.checkpoint import (TRUST_ENV, UnsafeCheckpointError,
                                     safe_load)


class _WritesAFile:
    """Unpickling this object runs ``exec`` and writes ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')", )


@pytest.fixture
def crafted_checkpoint(tmp_path):
    marker = tmp_path / 'pwned.txt'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(2)},
                'payload': _WritesAFile(marker)}, path)
    assert not marker.exists()
    return path, marker


def test_crafted_checkpoint_is_refused_without_running_code(
        crafted_checkpoint, monkeypatch):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    path, marker = crafted_checkpoint
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_load(str(path))
    message = str(info.value)
    assert str(path) in message
    assert 'builtins.exec' in message
    assert TRUST_ENV in message and 'trusted=True' in message
    assert not marker.exists()


def test_mmengine_loaders_use_the_safe_loader(crafted_checkpoint,
                                              monkeypatch):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    path, marker = crafted_checkpoint
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(torch.nn.Linear(2, 2), str(path))
    assert not marker.exists()


def test_explicit_opt_in_loads_trusted_file(crafted_checkpoint, monkeypatch):
    path, marker = crafted_checkpoint
    monkeypatch.setenv(TRUST_ENV, '1')
    checkpoint = safe_load(str(path))
    assert marker.exists()  # full pickle really ran: only for trusted files
    assert torch.equal(checkpoint['state_dict']['w'], torch.ones(2))


def test_upstream_style_training_checkpoint_loads(tmp_path, monkeypatch):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    path = tmp_path / 'model_best.pth.tar'
    state = {'head.weight': torch.randn(3, 4)}
    torch.save({'state_dict': state, 'state_dict_ema': state, 'epoch': 349,
                'arch': 'fan_tiny_8_p4_hybrid_token', 'version': 2,
                'metric': 79.9,
                'args': argparse.Namespace(model='fan', lr=2e-3)}, path)
    checkpoint = safe_load(str(path))
    assert checkpoint['args'].model == 'fan'
    assert torch.equal(checkpoint['state_dict_ema']['head.weight'],
                       state['head.weight'])


def test_mmengine_runner_objects_load(tmp_path, monkeypatch):
    """Full Runner checkpoints hold HistoryBuffers and numpy values."""
    monkeypatch.delenv(TRUST_ENV, raising=False)
    buffer = HistoryBuffer()
    buffer.update(1.5)
    path = tmp_path / 'iter_2.pth'
    torch.save({'message_hub': {'log_scalars': {'train/loss': buffer}},
                'meta': {'seed': np.int64(3), 'arr': np.arange(3.0)}}, path)
    checkpoint = safe_load(str(path))
    assert checkpoint['message_hub']['log_scalars']['train/loss'].current(
    ) == 1.5
    assert checkpoint['meta']['arr'].tolist() == [0.0, 1.0, 2.0]


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='Checkpoint file not found'):
        safe_load(os.fspath(tmp_path / 'nope.pth'))


class _GetattrOnAllowedClass:

    def __reduce__(self):
        return getattr, (argparse.Namespace, 'mro')


def test_getattr_is_restricted_to_history_buffer_statistics(
        tmp_path, monkeypatch):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    path = tmp_path / 'getattr.pth'
    torch.save({'x': _GetattrOnAllowedClass()}, path)
    with pytest.raises(UnsafeCheckpointError, match='builtins.getattr'):
        safe_load(str(path))
