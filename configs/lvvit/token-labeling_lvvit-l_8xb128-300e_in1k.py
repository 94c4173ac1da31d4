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
# rand-n3: three RandAugment ops per image; upstream order: flip,
# RandAugment on the whole image and its map, crop;
# photometric_train_pipeline is the photometric-only switch (see _base_)
label_map_randaug = dict(
    type='stl_mm.RandAugmentWithLabelMap',
    policies='timm_increasing',
    num_policies=3,
    total_level=10,
    magnitude_level=9,
    magnitude_std=0.5,
    hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic'))
photometric_randaug = dict(label_map_randaug, warp_label_map=False)
train_pipeline = [
    {{_base_.load_image}}, {{_base_.load_label_map}},
    {{_base_.flip_with_coords}}, label_map_randaug, {{_base_.train_crop}},
    {{_base_.random_erasing}}, {{_base_.pack_label_maps}}
]
photometric_train_pipeline = [
    {{_base_.load_image}}, {{_base_.load_label_map}}, {{_base_.train_crop}},
    {{_base_.flip_with_coords}}, photometric_randaug,
    {{_base_.random_erasing}}, {{_base_.pack_label_maps}}
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
