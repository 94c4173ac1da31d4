# fan_swin_tiny_patch4_window7_224: FAN-Swin classifier on ImageNet-1K
# (FAN recipe, 300 + 10 cooldown epochs; drop-path rate of upstream scripts/fan_swin).
_base_ = [
    '../_base_/models/fan_swin.py',
    '../_base_/datasets/imagenet_bs128_fan_224.py',
    '../_base_/schedules/imagenet_adamw_310e_swin.py',
    '../_base_/imagenet_ema_runtime.py',
]

model = dict(
    backbone=dict(arch='fan_swin_tiny_patch4_window7_224', drop_path_rate=0.3),
    head=dict(in_channels=768))
