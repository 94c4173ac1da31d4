# SegFormer head on the dense FAN-Swin-T backbone (four stage outputs: 96,
# 192, 384, 768 channels at strides 4, 8, 16, 32) for Cityscapes, with the
# FAN-Hybrid segmentation recipe (1024x1024 crops, 8 GPUs x 1 image, 160k
# iterations). Upstream released no FAN-Swin segmentation model.
_base_ = ['./segformer_fan-tiny-8-p4-hybrid_8xb1-160k_cityscapes-1024x1024.py']

# An ImageNet checkpoint of fan_swin_tiny_patch4_window7_224: upstream
# (.pth.tar) or ours (.pth); see docs/downstream.md.
checkpoint = 'pretrained/fan_swin_tiny_patch4_window7_224.pth.tar'
model = dict(
    backbone=dict(
        _delete_=True,
        type='stl_mm.FANSwin',
        arch='fan_swin_tiny_patch4_window7_224',
        out_indices=(0, 1, 2, 3),
        # LayerNorm on outputs 0-2 (new); output 3 uses the pretrained norm
        out_norms=True,
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint, prefer_ema=True)),
    decode_head=dict(in_channels=[96, 192, 384, 768]))
# every backbone parameter feeds an output
find_unused_parameters = False
