# FAN classifier on ImageNet-1K, FAN paper recipe (300 epochs). Variant
# configs in configs/fan/ set the backbone arch, drop-path rate and width.
_base_ = [
    './datasets/imagenet_bs128_fan_224.py',
    './schedules/imagenet_adamw_300e.py',
    './default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(type='stl_mm.FAN'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')),
)
