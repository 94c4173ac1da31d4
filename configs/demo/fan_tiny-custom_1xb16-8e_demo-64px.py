# A small FAN-Hybrid classifier for the embedded demo data (runs on a CPU).
_base_ = [
    '../_base_/datasets/demo_cls_64px.py',
    '../_base_/schedules/demo_adamw_8e.py',
    '../_base_/default_runtime.py',
]

fan_demo_arch = dict(
    embed_dims=64, depth=4, num_heads=4, stem='hybrid', hybrid_depths=[1, 1],
    dense_index=3)

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        num_classes={{_base_.num_classes}},
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(type='stl_mm.FAN', arch=fan_demo_arch, drop_path_rate=0.05),
    head=dict(
        type='LinearClsHead',
        num_classes={{_base_.num_classes}},
        in_channels=64,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                  mode='original')),
)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=2, max_keep_ckpts=1))
randomness = dict(seed=0)
