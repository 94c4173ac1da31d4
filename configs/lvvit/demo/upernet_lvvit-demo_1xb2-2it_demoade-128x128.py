# The LV-ViT + UperNet ADE20K recipe shrunk to run on a CPU in seconds: a
# tiny LV-ViT from scratch, 128x128 crops, plain BatchNorm, 2 iterations on
# an ADE20K-format folder (images/{training,validation}/*.jpg,
# annotations/.../*.png; point data_root at it).
_base_ = ['../upernet_lvvit-s_8xb2-160k_ade20k-512x512.py']

crop_size = (128, 128)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=32, depth=4, num_heads=2,
                  stem_channels=8, skip_lam=2.0),
        img_size=crop_size, out_indices=(0, 1, 2, 3), init_cfg=None,
        side_layers=dict(out_channels=64, norm_cfg=norm_cfg)),
    decode_head=dict(in_channels=[32] * 3 + [64], channels=32,
                     norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=32, channels=32, norm_cfg=norm_cfg),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(96, 96)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(256, 128), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 128), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=2, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
