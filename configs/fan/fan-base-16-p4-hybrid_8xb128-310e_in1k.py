# fan_base_16_p4_hybrid: FAN classifier on ImageNet-1K, the FAN recipe (300 epochs +
# 10 cooldown epochs, EMA; configs/_base_/schedules/imagenet_adamw_310e.py).
_base_ = [
    '../_base_/models/fan.py',
    '../_base_/datasets/imagenet_bs128_fan_224.py',
    '../_base_/schedules/imagenet_adamw_310e.py',
    '../_base_/imagenet_ema_runtime.py',
]

model = dict(
    backbone=dict(arch='fan_base_16_p4_hybrid', drop_path_rate=0.35),
    head=dict(in_channels=448))
