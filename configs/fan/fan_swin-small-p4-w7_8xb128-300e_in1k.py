# fan_swin_small_patch4_window7_224: FAN-Swin classifier on ImageNet-1K
# (FAN paper recipe; drop-path rate of upstream scripts/fan_swin).
_base_ = ['../_base_/fan_swin_in1k_300e.py']

model = dict(
    backbone=dict(
        arch='fan_swin_small_patch4_window7_224', drop_path_rate=0.3),
    head=dict(in_channels=768))
