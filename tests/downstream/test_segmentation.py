"""FAN under mmseg (EncoderDecoder + SegformerHead): a few training
iterations and validation through tools/train.py on the generated
Cityscapes-format set, and initialisation from STL/FAN checkpoints."""
import pytest
import torch

from stl_mm.testing import run_tool
from downstream_utils import (SEG_DEMO, assert_backbone_equals,  # noqa: F401
                              assert_finite_losses, build_model,
                              child_config, init_and_capture, read_scalars,
                              scene_root, stl_checkpoints)


def _data_opts(root):
    city = root / 'cityscapes'
    return [f'train_dataloader.dataset.data_root={city}',
            f'val_dataloader.dataset.data_root={city}',
            f'test_dataloader.dataset.data_root={city}']


def test_train_and_validate_from_stl_student(scene_root, stl_checkpoints,
                                             tmp_path):
    """Real mmseg runner: the backbone starts from the STL student, trains
    4 iterations with finite losses and is validated (mIoU)."""
    config = child_config(tmp_path, SEG_DEMO, f'''
        model = dict(backbone=dict(init_cfg=dict(
            _delete_=True, type='Pretrained',
            checkpoint={str(stl_checkpoints['ours'])!r})))
        ''')
    work = tmp_path / 'work'
    out = run_tool([
        'tools/train.py', str(config), '--work-dir', str(work),
        '--cfg-options', *_data_opts(scene_root), 'train_cfg.max_iters=4',
        'train_cfg.val_interval=4', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=4'
    ])
    log = out.stdout + out.stderr
    assert 'Loaded FAN backbone' in log
    assert 'not used by this backbone: head.fc.* (2), head.aux_fc.* (2), ' \
        'backbone.norm.* (2)' in log
    scalars = read_scalars(work)
    assert len(assert_finite_losses(scalars)) == 4
    miou = [s['mIoU'] for s in scalars if 'mIoU' in s]
    assert len(miou) == 1 and 0.0 <= miou[0] <= 100.0
    assert (work / 'iter_4.pth').is_file()


@pytest.mark.parametrize('fmt', ['ours', 'upstream'])
def test_stl_student_weights_arrive(stl_checkpoints, fmt):
    """mmseg model build + init_weights() loads every backbone tensor of an
    STL student (ours, or an upstream .pth.tar whose EMA weights win) and
    reports the class head, the token head (aux_head) and the final norm
    as unused."""
    model = build_model(SEG_DEMO, init_cfg=dict(
        type='Pretrained', checkpoint=str(stl_checkpoints[fmt])))
    messages = init_and_capture(model)
    assert_backbone_equals(model, stl_checkpoints['state'])
    unused = [m for m in messages if 'not used by this backbone' in m]
    assert len(unused) == 1
    for group in ('head.fc.*', 'head.aux_fc.*', 'backbone.norm.*'):
        assert group in unused[0]
    # nothing of the segmentation backbone was left uninitialised
    assert not [m for m in messages if 'from scratch' in m]
    # the decode head keeps its own initialisation
    assert model.decode_head.conv_seg.weight.abs().sum() > 0


def test_raw_weights_on_request(stl_checkpoints):
    model = build_model(SEG_DEMO, init_cfg=dict(
        type='Pretrained', checkpoint=str(stl_checkpoints['upstream']),
        prefer_ema=False))
    init_and_capture(model)
    assert all(torch.count_nonzero(v) == 0
               for k, v in model.backbone.state_dict().items()
               if k.startswith('blocks.'))


def test_missing_backbone_key_is_fatal(stl_checkpoints, tmp_path):
    state = dict(stl_checkpoints['state'])
    del state['backbone.blocks.1.norm1.weight']
    broken = tmp_path / 'broken.pth'
    torch.save({'meta': {}, 'state_dict': state}, broken)
    model = build_model(SEG_DEMO, init_cfg=dict(type='Pretrained',
                                                checkpoint=str(broken)))
    with pytest.raises(ValueError, match='blocks.1.norm1.weight: missing'):
        model.init_weights()


def test_other_variant_is_fatal(stl_checkpoints):
    """A checkpoint of another width does not load silently."""
    model = build_model(SEG_DEMO, arch=dict(
        embed_dims=64, depth=2, num_heads=2, stem='hybrid',
        hybrid_depths=[1, 1], dense_index=1), init_cfg=dict(
            type='Pretrained', checkpoint=str(stl_checkpoints['ours'])))
    with pytest.raises(ValueError, match='does not fit FAN arch'):
        model.init_weights()
