# fan_small_12_p16_224: FAN classifier on ImageNet-1K (FAN paper recipe).
_base_ = [
    '../_base_/datasets/imagenet_bs128_fan_224.py',
    '../_base_/schedules/imagenet_adamw_300e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='stl_mm.FAN', arch='fan_small_12_p16_224', drop_path_rate=0.25),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
    ),
)
