# LV-ViT-M with Token Labeling from offline label maps (ImageNet-1K, 224px).
# README: -b 128 x 8, drop-path 0.2.
_base_ = ['./_base_/token-labeling_lvvit_in1k_300e.py']

model = dict(
    backbone=dict(arch='lvvit_m', drop_path_rate=0.2),
    head=dict(in_channels=512))
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
