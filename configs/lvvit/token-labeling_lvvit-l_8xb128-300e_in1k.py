# LV-ViT-L with Token Labeling from offline label maps (ImageNet-1K, 224px).
# README: -b 128 x 8, lr 1e-3, rand-n3-m9-mstd0.5-inc1, drop-path 0.3.
_base_ = ['./_base_/token-labeling_lvvit_in1k_300e.py']

model = dict(
    backbone=dict(arch='lvvit_l', drop_path_rate=0.3),
    head=dict(in_channels=768))
# crop_pct 1.0 (upstream default_cfg of M and L)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=224, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 1e-3, by_epoch=True, begin=0,
         end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=295, eta_min=1e-5, by_epoch=True,
         begin=5, end=300),
]
bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='stl_mm.LoadTokenLabelMap',
         map_root={{_base_.label_map_root}}, num_classes=1000),
    dict(type='stl_mm.RandomResizedCropWithCoords', scale=224,
         backend='pillow', interpolation='bicubic'),
    dict(type='stl_mm.RandomFlipWithCoords', prob=0.5,
         direction='horizontal'),
    dict(
        type='RandAugment',
        policies={{_base_.photometric_randaug_policies}},
        num_policies=3,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(
            pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=bgr_mean,
        fill_std=bgr_std),
    dict(type='PackInputs',
         algorithm_keys=['token_label_map', 'token_label_coords']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
