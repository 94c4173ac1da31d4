# fan_tiny_8_p4_hybrid: FAN classifier on ImageNet-1K, the FAN recipe (300 epochs +
# 10 cooldown epochs, EMA; configs/_base_/schedules/imagenet_adamw_310e.py).
# The one FAN-T command of the NVlabs/FAN README: --lr 10e-4 --drop-path .1
# for 32 GPUs x 32 images (the same total batch of 1024).
_base_ = [
    '../_base_/models/fan.py',
    '../_base_/datasets/imagenet_bs128_fan_224.py',
    '../_base_/schedules/imagenet_adamw_310e.py',
    '../_base_/imagenet_ema_runtime.py',
]

model = dict(
    backbone=dict(arch='fan_tiny_8_p4_hybrid', drop_path_rate=0.1),
    head=dict(in_channels=192))
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 1e-3, by_epoch=True, begin=0,
         end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=300, eta_min=1e-6, by_epoch=True,
         begin=0, end=301),
    dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=301, end=310),
]
