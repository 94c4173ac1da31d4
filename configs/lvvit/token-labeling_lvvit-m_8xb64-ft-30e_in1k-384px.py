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

# upstream order: flip, RandAugment on the whole image and its map, crop;
# photometric_train_pipeline is the photometric-only switch (see _base_)
train_crop = dict(type='stl_mm.RandomResizedCropWithCoords', scale=img_size,
                  backend='pillow', interpolation='random')
train_pipeline = [
    {{_base_.load_image}}, {{_base_.load_label_map}},
    {{_base_.flip_with_coords}}, {{_base_.label_map_randaug}}, train_crop,
    {{_base_.random_erasing}}, {{_base_.pack_label_maps}}
]
photometric_train_pipeline = [
    {{_base_.load_image}}, {{_base_.load_label_map}}, train_crop,
    {{_base_.flip_with_coords}}, {{_base_.photometric_randaug}},
    {{_base_.random_erasing}}, {{_base_.pack_label_maps}}
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
