# fan_large_16_p4_hybrid_token: the STL token labeler (phase 1) on ImageNet-1K: a FAN-Hybrid
# with a per-token head, trained on image labels only (class term + mean
# token term). Its checkpoints are the teachers of configs/stl/*_student.py.
_base_ = [
    '../_base_/datasets/imagenet_bs128_fan_224.py',
    '../_base_/schedules/imagenet_adamw_300e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='stl_mm.FAN',
        arch='fan_large_16_p4_hybrid_token',
        drop_path_rate=0.45,
        out_type='cls_and_patch'),
    head=dict(
        type='stl_mm.TokenLabelHead',
        num_classes=1000,
        in_channels=480,
        mode='labeler',
        label_smooth=0.1,
        cls_weight=1.0,
        dense_weight=1.0),
)

# STL recipe: 350 epochs, EMA decay 0.99992.
train_dataloader = dict(batch_size=64)

# base/large: 4 nodes x 8 GPUs x 64 images, lr 4e-3, 10 warm-up epochs.
optim_wrapper = dict(optimizer=dict(lr=4e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 4e-3, by_epoch=True, begin=0,
         end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=340, eta_min=1e-6, by_epoch=True,
         begin=10, end=350),
]
auto_scale_lr = dict(base_batch_size=2048)

train_cfg = dict(max_epochs=350)
custom_hooks = [
    dict(type='EMAHook', momentum=8e-5, update_buffers=True, priority=49),
]
