# fan_Xlarge_16_p4_hybrid: two-width FAN-Hybrid (528 -> 768 channels after
# block 20) on ImageNet-1K, FAN recipe, 300 + 10 cooldown epochs (drop-path rate of upstream
# scripts/fan_hybrid/fan_hybrid_xlarge.sh). No released weights.
_base_ = [
    '../_base_/models/fan.py',
    '../_base_/datasets/imagenet_bs128_fan_224.py',
    '../_base_/schedules/imagenet_adamw_310e.py',
    '../_base_/imagenet_ema_runtime.py',
]

model = dict(
    backbone=dict(arch='fan_Xlarge_16_p4_hybrid', drop_path_rate=0.45),
    head=dict(in_channels=768))
