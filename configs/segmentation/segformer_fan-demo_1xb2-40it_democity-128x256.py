# The FAN/SegFormer Cityscapes recipe shrunk to run on a CPU in about a
# minute: a tiny custom FAN-Hybrid from scratch on the generated demo set
# (tools/make_demo_data.py data/demo --tasks seg; 128x256 scenes in
# Cityscapes format). Override the set with
# --cfg-options train_dataloader.dataset.data_root=... \
#     val_dataloader.dataset.data_root=... test_dataloader.dataset.data_root=...
_base_ = ['./segformer_fan-tiny-8-p4-hybrid_8xb1-160k_cityscapes-1024x1024.py']

data_root = 'data/demo/cityscapes/'
crop_size = (128, 128)
scene_scale = (256, 128)
fan_demo_arch = dict(
    embed_dims=32, depth=2, num_heads=2, stem='hybrid', hybrid_depths=[1, 1],
    dense_index=1)

# plain BatchNorm: no SyncBN conversion (CPU, one process)
norm_cfg = dict(type='BN', requires_grad=True)
sync_bn = None
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch=dict(_delete_=True, **fan_demo_arch), init_cfg=None),
    decode_head=dict(
        in_channels=[128, 256, 32, 32], channels=64, norm_cfg=norm_cfg),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(96, 96)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=scene_scale,
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scene_scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

# from scratch in 40 iterations: a larger learning rate, short warm-up
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=5),
    dict(
        type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=5,
        end=40),
]
train_cfg = dict(max_iters=40, val_interval=40)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=40, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
