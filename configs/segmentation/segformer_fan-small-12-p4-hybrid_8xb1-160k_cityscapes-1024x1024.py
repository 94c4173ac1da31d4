# SegFormer head on fan_small_12_p4_hybrid for Cityscapes, FAN paper recipe:
# 1024x1024 crops, 8 GPUs x 1 image, 160k iterations, sliding-window test.
_base_ = [
    '../_base_/seg_segformer_fan-hybrid.py',
    '../_base_/datasets/cityscapes_1024x1024.py',
    '../_base_/seg_runtime.py',
    '../_base_/seg_schedule_adamw-poly_160k.py',
]

# An ImageNet checkpoint of fan_small_12_p4_hybrid: upstream (.pth.tar) or ours
# (.pth); see docs/downstream.md.
checkpoint = 'pretrained/fan_small_12_p4_hybrid.pth.tar'
model = dict(
    backbone=dict(
        arch='fan_small_12_p4_hybrid',
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint, prefer_ema=True)),
    decode_head=dict(in_channels=[128, 256, 384, 384]))
