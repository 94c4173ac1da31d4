# Token Labeling from offline label maps on the embedded demo data: a small
# LV-ViT student with MixToken learns from the image labels' stand-in (the
# map averaged over the crop) and from per-token targets ROI-aligned from
# maps that a demo teacher wrote once per image:
#   python tools/dump_token_labels.py configs/stl/demo/fan_demo_token_labeler.py \
#       work_dirs/demo/token_labeler/epoch_12.pth data/demo/cls/train \
#       --out work_dirs/demo/token_label_maps --img-size 64
#   python tools/train.py configs/lvvit/demo/token-labeling_lvvit-demo_1xb16-12e_demo-64px.py
_base_ = [
    '../../_base_/datasets/demo_cls_64px.py',
    '../../_base_/schedules/demo_adamw_stl.py',
    '../../_base_/default_runtime.py',
]

lvvit_demo_arch = dict(embed_dims=64, depth=4, num_heads=4, stem_channels=16,
                       skip_lam=2.0)
label_map_root = 'work_dirs/demo/token_label_maps'

model = dict(
    type='stl_mm.TokenLabelClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        num_classes={{_base_.num_classes}},
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(type='stl_mm.LVViT', arch=lvvit_demo_arch, img_size=64),
    head=dict(
        type='stl_mm.TokenLabelHead',
        num_classes={{_base_.num_classes}},
        in_channels=64,
        mode='student',
        cls_weight=1.0,
        dense_weight=3.0,
        label_smooth=0.1,
        fusion='cls_plus_max'),
    label_map=dict(smoothing=0.1, cls_target='map'),
    mix_token=dict(alpha=1.0, prob=1.0),
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='stl_mm.LoadTokenLabelMap', map_root=label_map_root,
         num_classes={{_base_.num_classes}}),
    dict(type='stl_mm.RandomResizedCropWithCoords', scale=64,
         crop_ratio_range=(0.6, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='stl_mm.RandomFlipWithCoords', prob=0.5,
         direction='horizontal'),
    dict(type='PackInputs',
         algorithm_keys=['token_label_map', 'token_label_coords']),
]
demo_classes = ['class_00_disc', 'class_01_square', 'class_02_triangle',
                'class_03_cross']
train_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(pipeline=train_pipeline,
                 metainfo=dict(classes=demo_classes)))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(metainfo=dict(classes=demo_classes)))
test_dataloader = val_dataloader

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=4, max_keep_ckpts=1))
custom_hooks = [dict(type='EMAHook', momentum=1e-2, priority=49)]
randomness = dict(seed=0)
