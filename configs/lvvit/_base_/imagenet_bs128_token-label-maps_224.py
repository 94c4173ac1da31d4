# ImageNet-1K with offline token-label maps (Token Labeling recipe, 224px).
# Every training image has a label map (top-5 scores of a teacher on its
# token grid, e.g. the published NFNet-F6 maps or tools/dump_token_labels.py
# output) at <map_root>/<class>/<image>.pt. The crop and flip are recorded so
# that the model ROI-aligns the map onto the crop's token grid.
# RandAugment: rand-m9-mstd0.5-inc1 as upstream, but only its photometric ops:
# upstream also warps the label map with Rotate/Shear/Translate, which the
# crop record cannot express (see docs/token_labels.md).
# Random erasing 0.25 (per-pixel), no image-level Mixup/CutMix (upstream
# default; MixToken runs inside the model). Eval: bicubic resize of the short
# side to 224 / crop_pct, centre crop 224 (crop_pct 0.9 for T/S, 1.0 for M/L).
dataset_type = 'ImageNet'
data_root = 'data/imagenet'
label_map_root = 'data/imagenet/label_top5_train_nfnet'
num_classes = 1000
img_size = 224
crop_pct = 0.9
randaug_num_policies = 2

# the model's data preprocessor (the model base puts it inside `model`)
lvvit_data_preprocessor = dict(
    num_classes=num_classes,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)
bgr_mean = lvvit_data_preprocessor['mean'][::-1]
bgr_std = lvvit_data_preprocessor['std'][::-1]

photometric_randaug_policies = [
    dict(type='AutoContrast'),
    dict(type='Equalize'),
    dict(type='Invert'),
    dict(type='Posterize', magnitude_range=(4, 0)),
    dict(type='Solarize', magnitude_range=(256, 0)),
    dict(type='SolarizeAdd', magnitude_range=(0, 110)),
    dict(type='ColorTransform', magnitude_range=(0, 0.9)),
    dict(type='Contrast', magnitude_range=(0, 0.9)),
    dict(type='Brightness', magnitude_range=(0, 0.9)),
    dict(type='Sharpness', magnitude_range=(0, 0.9)),
]

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='stl_mm.LoadTokenLabelMap', map_root=label_map_root,
         num_classes=num_classes),
    dict(type='stl_mm.RandomResizedCropWithCoords', scale=img_size,
         backend='pillow', interpolation='bicubic'),
    dict(type='stl_mm.RandomFlipWithCoords', prob=0.5,
         direction='horizontal'),
    dict(
        type='RandAugment',
        policies=photometric_randaug_policies,
        num_policies=randaug_num_policies,
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
    dict(type='ResizeEdge', scale=int(img_size / crop_pct), edge='short',
         backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val',
                 pipeline=test_pipeline),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
