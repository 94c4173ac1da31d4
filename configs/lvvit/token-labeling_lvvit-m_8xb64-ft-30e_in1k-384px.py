# LV-ViT-M fine-tuned at 384x384 with Token Labeling (README recipe: -b 64 x 8,
# lr 5e-6 constant, weight decay 1e-8, drop-path 0.2, token-label size 24
# = the 24x24 token grid the label maps are ROI-aligned onto).
# The number of epochs is not in the README: 30 is our choice.
# Starts from the released lvvit_m-56M-224-84.0.pth.tar.
# The released fine-tuned file (lvvit_m-56M-384-85.4.pth.tar) evaluates with
#   init_model('lvvit_m_384', checkpoint=...) or tools/test.py this config.
_base_ = ['./token-labeling_lvvit-m_8xb128-300e_in1k.py']

img_size = 384
model = dict(
    backbone=dict(
        img_size=img_size,
        # the 224px position embedding is resized once to the 24x24 grid
        pos_embed_loading='resize',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/zihangJiang/TokenLabeling/releases/download/1.0/lvvit_m-56M-224-84.0.pth.tar')))

bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='stl_mm.LoadTokenLabelMap',
         map_root={{_base_.label_map_root}}, num_classes=1000),
    dict(type='stl_mm.RandomResizedCropWithCoords', scale=img_size,
         backend='pillow', interpolation='bicubic'),
    dict(type='stl_mm.RandomFlipWithCoords', prob=0.5,
         direction='horizontal'),
    dict(
        type='RandAugment',
        policies={{_base_.photometric_randaug_policies}},
        num_policies=2,
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
test_pipeline = [
    dict(type='LoadImageFromFile'),
    # crop_pct 1.0 (upstream default_cfg)
    dict(type='ResizeEdge', scale=384, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=5e-6, weight_decay=1e-8))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
train_cfg = dict(max_epochs=30)
auto_scale_lr = dict(base_batch_size=512)
