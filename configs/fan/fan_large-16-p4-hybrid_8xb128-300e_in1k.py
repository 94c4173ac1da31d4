# fan_large_16_p4_hybrid: FAN classifier on ImageNet-1K (FAN paper recipe).
_base_ = ['../_base_/fan_in1k_300e.py']

model = dict(
    backbone=dict(arch='fan_large_16_p4_hybrid', drop_path_rate=0.45),
    head=dict(
        in_channels=480,
        # upstream scales this variant's initial head by 1e-3
        init_cfg=dict(type='TruncNormal', layer='Linear', std=2e-5,
                      bias=0.)))
