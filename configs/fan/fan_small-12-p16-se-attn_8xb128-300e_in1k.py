# fan_small_12_p16_224_se_attn: FAN-ViT-S whose blocks use a
# squeeze-excitation MLP instead of attentional channel processing, on
# ImageNet-1K (FAN paper recipe; drop-path rate of upstream
# scripts/fan_vit/fan_net_se_mlp.sh). No released weights exist: upstream's
# forward of this variant crashes (NVlabs/FAN#13).
_base_ = ['../_base_/fan_in1k_300e.py']

model = dict(
    backbone=dict(arch='fan_small_12_p16_224_se_attn', drop_path_rate=0.3),
    head=dict(in_channels=384))
