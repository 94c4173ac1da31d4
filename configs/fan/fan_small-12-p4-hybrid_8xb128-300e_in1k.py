# fan_small_12_p4_hybrid: FAN classifier on ImageNet-1K (FAN paper recipe).
_base_ = ['../_base_/fan_in1k_300e.py']

model = dict(
    backbone=dict(arch='fan_small_12_p4_hybrid', drop_path_rate=0.25),
    head=dict(in_channels=384))
