"""FAN-Swin dense outputs under mmseg (SegFormer head) and mmdet (Cascade
Mask R-CNN + FPN): the demo-sized configs train one step and validate on
the generated scene sets through tools/train.py."""
from stl_mm.testing import REPO, run_tool
from downstream_utils import (assert_finite_losses, read_scalars,  # noqa
                              scene_root)

SEG = REPO / ('configs/segmentation/'
              'segformer_fan-swin-demo_1xb2-40it_democity-128x256.py')
DET = REPO / ('configs/detection/'
              'cascade-mask-rcnn_fan-swin-demo_fpn_1xb2-40it_demococo.py')


def test_segmentation_one_step(scene_root, tmp_path):
    city = scene_root / 'cityscapes'
    work = tmp_path / 'seg'
    run_tool([
        'tools/train.py', str(SEG), '--work-dir', str(work), '--cfg-options',
        f'train_dataloader.dataset.data_root={city}',
        f'val_dataloader.dataset.data_root={city}',
        f'test_dataloader.dataset.data_root={city}', 'train_cfg.max_iters=1',
        'train_cfg.val_interval=1', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1'
    ])
    scalars = read_scalars(work)
    assert len(assert_finite_losses(scalars)) == 1
    assert [s for s in scalars if 'mIoU' in s]


def test_detection_one_step(scene_root, tmp_path):
    coco = scene_root / 'coco'
    ann = coco / 'annotations' / 'instances_val2017.json'
    work = tmp_path / 'det'
    run_tool([
        'tools/train.py', str(DET), '--work-dir', str(work), '--cfg-options',
        f'train_dataloader.dataset.data_root={coco}/',
        f'val_dataloader.dataset.data_root={coco}/',
        f'test_dataloader.dataset.data_root={coco}/',
        f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}',
        'train_dataloader.dataset.indices=2', 'train_cfg.max_epochs=1',
        'train_cfg.val_interval=1', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1'
    ])
    scalars = read_scalars(work)
    assert len(assert_finite_losses(scalars)) == 1
    assert [s for s in scalars if 'coco/bbox_mAP' in s]
