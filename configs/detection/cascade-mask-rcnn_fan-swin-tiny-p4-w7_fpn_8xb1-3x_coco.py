# Cascade Mask R-CNN + FPN on the dense FAN-Swin-T backbone (96, 192, 384,
# 768 channels at strides 4-32) for COCO, with the FAN-Hybrid detection
# recipe (DETR-style multi-scale training, 8 GPUs x 1 image, 36 epochs).
# Upstream released no FAN-Swin detection model.
_base_ = ['./cascade-mask-rcnn_fan-tiny-8-p4-hybrid_fpn_8xb1-3x_coco.py']

# An ImageNet checkpoint of fan_swin_tiny_patch4_window7_224: upstream
# (.pth.tar) or ours (.pth); see docs/downstream.md.
checkpoint = 'pretrained/fan_swin_tiny_patch4_window7_224.pth.tar'
model = dict(
    backbone=dict(
        _delete_=True,
        type='stl_mm.FANSwin',
        arch='fan_swin_tiny_patch4_window7_224',
        out_indices=(0, 1, 2, 3),
        out_norms=True,
        drop_path_rate=0.2,
        with_cp=False,
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint, prefer_ema=True)),
    neck=dict(in_channels=[96, 192, 384, 768]))
find_unused_parameters = False
