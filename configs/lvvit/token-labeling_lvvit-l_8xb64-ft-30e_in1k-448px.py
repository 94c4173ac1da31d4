# LV-ViT-L fine-tuned at 448x448 with Token Labeling (README recipe: -b 64 x 8,
# lr 5e-6 constant, weight decay 1e-8, drop-path 0.3, token-label size 28
# = the 28x28 token grid the label maps are ROI-aligned onto).
# The number of epochs is not in the README: 30 is our choice.
# Starts from the 224px LV-ViT-L run of token-labeling_lvvit-l_8xb128-300e_in1k.py
# (upstream released no 224px LV-ViT-L file).
# The released fine-tuned file (lvvit_l-150M-448-86.2.pth.tar) evaluates with
#   init_model('lvvit_l_448', checkpoint=...) or tools/test.py this config.
_base_ = ['./token-labeling_lvvit-l_8xb128-300e_in1k.py']

img_size = 448
model = dict(
    backbone=dict(
        img_size=img_size,
        # the 224px position embedding is resized once to the 28x28 grid
        pos_embed_loading='resize',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/token-labeling_lvvit-l_8xb128-300e_in1k/epoch_310.pth')))

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
    dict(type='ResizeEdge', scale=448, edge='short', backend='pillow',
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
