# Token Labeling (Jiang et al., NeurIPS 2021) for LV-ViT on ImageNet-1K, the
# recipe of zihangJiang/TokenLabeling main.py + README: 8 GPUs x 128 images,
# AdamW lr 1.6e-3 (total batch 1024), weight decay 0.05 (none on norms,
# biases, position embedding, class token), 5 warm-up epochs from 1e-6,
# cosine to 1e-5 over 300 epochs then 10 cool-down epochs at 1e-5 (timm's
# scheduler), EMA 0.99992, label smoothing 0.1, token-label size = the token
# grid (14 at 224), class + dense loss weights 1, MixToken (Beta(1, 1)).
# Variant configs set arch, width and drop-path.
_base_ = [
    './imagenet_bs128_token-label-maps_224.py',
    '../../_base_/default_runtime.py',
]

model = dict(
    type='stl_mm.TokenLabelClassifier',
    data_preprocessor={{_base_.lvvit_data_preprocessor}},
    backbone=dict(type='stl_mm.LVViT', arch='lvvit_s', img_size=224,
                  drop_path_rate=0.1),
    head=dict(
        type='stl_mm.TokenLabelHead',
        num_classes=1000,
        in_channels=384,
        mode='student',
        cls_weight=1.0,
        dense_weight=1.0,
        label_smooth=0.1,
        # upstream eval output: cls + 0.5 * max over tokens
        fusion='cls_plus_max',
        fusion_max_weight=0.5),
    label_map=dict(smoothing=0.1, cls_target='map'),
    mix_token=dict(alpha=1.0, prob=1.0),
)

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1.6e-3, weight_decay=0.05, eps=1e-8,
                   betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'cls_token': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.0),
        }),
)
param_scheduler = [
    # warm-up from 1e-6; it scales the cosine below, which runs from epoch 0
    # as timm's does (configs/_base_/schedules/imagenet_adamw_310e.py)
    dict(type='LinearLR', start_factor=1e-6 / 1.6e-3, by_epoch=True,
         begin=0, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=300, eta_min=1e-5, by_epoch=True,
         begin=0, end=301),
    # timm's --cooldown-epochs 10 at min_lr
    dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=301, end=310),
]
train_cfg = dict(by_epoch=True, max_epochs=310, val_interval=1)
val_cfg = dict()
test_cfg = dict()
custom_hooks = [
    dict(type='EMAHook', momentum=8e-5, update_buffers=True, priority=49),
]
auto_scale_lr = dict(base_batch_size=1024)
