# STL phase 1 on the embedded demo data: a small FAN-Hybrid token labeler
# trained with image labels only. Used by tools/demo.sh.
_base_ = [
    '../../_base_/datasets/demo_cls_64px.py',
    '../../_base_/schedules/demo_adamw_8e.py',
    '../../_base_/default_runtime.py',
]

fan_demo_arch = dict(
    embed_dims=64, depth=4, num_heads=4, stem='hybrid', hybrid_depths=[1, 1],
    dense_index=3)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='stl_mm.FAN',
        arch=fan_demo_arch,
        drop_path_rate=0.05,
        out_type='cls_and_patch'),
    head=dict(
        type='stl_mm.TokenLabelHead',
        num_classes={{_base_.num_classes}},
        in_channels=64,
        mode='labeler',
        label_smooth=0.1),
)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=2, max_keep_ckpts=1))
custom_hooks = [dict(type='EMAHook', momentum=1e-3, priority=49)]
randomness = dict(seed=0)
