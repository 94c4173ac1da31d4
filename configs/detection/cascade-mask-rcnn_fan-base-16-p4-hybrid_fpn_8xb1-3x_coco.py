# Cascade Mask R-CNN + FPN on fan_base_16_p4_hybrid for COCO, FAN paper recipe:
# DETR-style multi-scale training, 8 GPUs x 1 image, 36 epochs; train with
# --amp (fp16) as upstream did.
_base_ = [
    '../_base_/det_cascade-mask-rcnn_fan-hybrid_fpn.py',
    '../_base_/datasets/coco_instance_detr-ms-crop.py',
    '../_base_/det_runtime.py',
    '../_base_/det_schedule_adamw-3x.py',
]

# An ImageNet checkpoint of fan_base_16_p4_hybrid: upstream (.pth.tar) or ours
# (.pth); see docs/downstream.md.
checkpoint = 'pretrained/fan_base_16_p4_hybrid.pth.tar'
model = dict(
    backbone=dict(
        arch='fan_base_16_p4_hybrid',
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint, prefer_ema=True)),
    neck=dict(in_channels=[128, 256, 448, 768]))
