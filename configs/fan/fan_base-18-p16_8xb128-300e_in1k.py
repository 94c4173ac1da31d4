# fan_base_18_p16_224: FAN classifier on ImageNet-1K (FAN paper recipe).
_base_ = ['../_base_/fan_in1k_300e.py']

model = dict(
    backbone=dict(arch='fan_base_18_p16_224', drop_path_rate=0.35),
    head=dict(in_channels=448))
