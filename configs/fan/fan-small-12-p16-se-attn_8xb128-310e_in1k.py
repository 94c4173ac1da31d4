# fan_small_12_p16_224_se_attn: FAN-ViT-S whose blocks use a
# squeeze-excitation MLP instead of attentional channel processing, on
# ImageNet-1K (FAN recipe, 300 + 10 cooldown epochs; drop-path rate of upstream
# scripts/fan_vit/fan_net_se_mlp.sh). No released weights exist: upstream's
# forward of this variant crashes (NVlabs/FAN#13).
_base_ = [
    '../_base_/models/fan.py',
    '../_base_/datasets/imagenet_bs128_fan_224.py',
    '../_base_/schedules/imagenet_adamw_310e.py',
    '../_base_/imagenet_ema_runtime.py',
]

model = dict(
    backbone=dict(arch='fan_small_12_p16_224_se_attn', drop_path_rate=0.3),
    head=dict(in_channels=384))
