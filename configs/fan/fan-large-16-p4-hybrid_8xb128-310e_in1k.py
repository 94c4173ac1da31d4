# fan_large_16_p4_hybrid: FAN classifier on ImageNet-1K, the FAN recipe (300 epochs +
# 10 cooldown epochs, EMA; configs/_base_/schedules/imagenet_adamw_310e.py).
_base_ = [
    '../_base_/models/fan.py',
    '../_base_/datasets/imagenet_bs128_fan_224.py',
    '../_base_/schedules/imagenet_adamw_310e.py',
    '../_base_/imagenet_ema_runtime.py',
]

model = dict(
    backbone=dict(arch='fan_large_16_p4_hybrid', drop_path_rate=0.45),
    head=dict(
        in_channels=480,
        # upstream scales this variant's initial head by 1e-3
        init_cfg=dict(type='TruncNormal', layer='Linear', std=2e-5,
                      bias=0.)))
