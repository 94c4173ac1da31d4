# STL token labeler (phase 1) on ImageNet-1K: a FAN-Hybrid with a per-token
# head, trained on image labels only (class term + mean-over-tokens term),
# 350 epochs, EMA decay 0.99992. Variant configs set arch, drop-path, width.
_base_ = ['./fan_in1k_300e.py']

model = dict(
    backbone=dict(out_type='cls_and_patch'),
    head=dict(
        _delete_=True,
        type='stl_mm.TokenLabelHead',
        num_classes=1000,
        mode='labeler',
        label_smooth=0.1,
        cls_weight=1.0,
        dense_weight=1.0),
)

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 2e-3, by_epoch=True, begin=0,
         end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=345, eta_min=1e-6, by_epoch=True,
         begin=5, end=350),
]
train_cfg = dict(max_epochs=350)
custom_hooks = [
    dict(type='EMAHook', momentum=8e-5, update_buffers=True, priority=49),
]
