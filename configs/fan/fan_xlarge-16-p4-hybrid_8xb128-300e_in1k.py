# fan_Xlarge_16_p4_hybrid: two-width FAN-Hybrid (528 -> 768 channels after
# block 20) on ImageNet-1K, FAN paper recipe (drop-path rate of upstream
# scripts/fan_hybrid/fan_hybrid_xlarge.sh). No released weights.
_base_ = ['../_base_/fan_in1k_300e.py']

model = dict(
    backbone=dict(arch='fan_Xlarge_16_p4_hybrid', drop_path_rate=0.45),
    head=dict(in_channels=768))
