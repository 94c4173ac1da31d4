"""FAN under mmdet (Cascade Mask R-CNN + FPN): a few training iterations and
validation through tools/train.py on the generated COCO-format set, and
initialisation of the detection backbone from STL/FAN checkpoints."""
import pytest
import torch

from stl_mm.testing import run_tool
from downstream_utils import (DET_DEMO, assert_backbone_equals,  # noqa: F401
                              assert_finite_losses, build_model,
                              child_config, init_and_capture, read_scalars,
                              scene_root, stl_checkpoints)


def _data_opts(root):
    coco = root / 'coco'
    ann = coco / 'annotations' / 'instances_val2017.json'
    return [f'train_dataloader.dataset.data_root={coco}/',
            f'val_dataloader.dataset.data_root={coco}/',
            f'test_dataloader.dataset.data_root={coco}/',
            f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}']


def test_train_and_validate_from_stl_student(scene_root, stl_checkpoints,
                                             tmp_path):
    """Real mmdet runner on the STL detection backbone (LayerNorm on every
    output): initialised from an upstream-format STL student, 4 training
    iterations (1 epoch of 4 images) with finite losses, then box and mask
    AP from CocoMetric."""
    config = child_config(tmp_path, DET_DEMO, f'''
        model = dict(backbone=dict(out_norms=True, init_cfg=dict(
            _delete_=True, type='Pretrained',
            checkpoint={str(stl_checkpoints['upstream'])!r})))
        ''')
    work = tmp_path / 'work'
    out = run_tool([
        'tools/train.py', str(config), '--work-dir', str(work),
        '--cfg-options', *_data_opts(scene_root),
        'train_dataloader.dataset.indices=8', 'train_cfg.max_epochs=1',
        'train_cfg.val_interval=1', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1'
    ])
    log = out.stdout + out.stderr
    assert 'Loaded FAN backbone' in log
    assert 'not used by this backbone: head.fc.* (2), head.aux_fc.* (2), ' \
        'backbone.norm.* (2)' in log
    assert 'initialised from scratch (not in the checkpoint): ' \
        'learnable_downsample.weight, learnable_downsample.bias, ' \
        'out_norms.0.* (2)' in log
    scalars = read_scalars(work)
    losses = assert_finite_losses(scalars)
    assert len(losses) == 4
    val = [s for s in scalars if 'coco/bbox_mAP' in s]
    assert len(val) == 1
    for key in ('coco/bbox_mAP', 'coco/segm_mAP'):
        assert 0.0 <= val[0][key] <= 1.0
    assert (work / 'epoch_1.pth').is_file()


@pytest.mark.parametrize('fmt', ['ours', 'upstream'])
def test_stl_student_weights_arrive(stl_checkpoints, fmt):
    """mmdet model build + init_weights() fills the detection backbone from
    an STL student; the extra downsampling conv and output norms start from
    their own initialisation and are reported as such."""
    model = build_model(DET_DEMO, out_norms=True, init_cfg=dict(
        type='Pretrained', checkpoint=str(stl_checkpoints[fmt])))
    messages = init_and_capture(model)
    assert_backbone_equals(model, stl_checkpoints['state'])
    unused = [m for m in messages if 'not used by this backbone' in m][0]
    for group in ('head.fc.*', 'head.aux_fc.*', 'backbone.norm.*'):
        assert group in unused
    scratch = [m for m in messages if 'from scratch' in m][0]
    assert 'learnable_downsample.weight' in scratch
    assert 'out_norms.3.*' in scratch
    # the detector still runs on the loaded backbone
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.rand(1, 3, 64, 96))
    assert len(feats) == 5 and all(torch.isfinite(f).all() for f in feats)


def test_missing_backbone_key_is_fatal(stl_checkpoints, tmp_path):
    state = {k: v for k, v in stl_checkpoints['state'].items()
             if not k.startswith('backbone.cls_attn_blocks.1.')}
    broken = tmp_path / 'broken.pth'
    torch.save({'meta': {}, 'state_dict': state}, broken)
    model = build_model(DET_DEMO, init_cfg=dict(type='Pretrained',
                                                checkpoint=str(broken)))
    with pytest.raises(ValueError, match='cls_attn_blocks.1.*missing'):
        model.init_weights()
