# ImageNet-1K with offline token-label maps (Token Labeling recipe, 224px).
# Every training image has a label map (top-5 scores of a teacher on its
# token grid, e.g. the published NFNet-F6 maps or tools/dump_token_labels.py
# output) at <map_root>/<class>/<image>.pt.
# Upstream order (TokenLabeling transforms_imagenet_train): horizontal flip,
# RandAugment rand-m9-mstd0.5-inc1 on the whole image whose Rotate / Shear /
# Translate also warp the whole label map, then the random resized crop
# (bilinear or bicubic per image, --train-interpolation random), whose box
# the model ROI-aligns the map with; random erasing 0.25 (per-pixel), no
# image-level Mixup/CutMix (upstream default; MixToken runs inside the
# model). Eval: bicubic resize of the short side to 224 / crop_pct, centre
# crop 224 (crop_pct 0.9 for T/S, 1.0 for M/L).
# Switch to the photometric-only pipeline (crop, flip, RandAugment without
# geometric ops; the map is never warped), in a config inheriting this one:
#   train_dataloader = dict(
#       dataset=dict(pipeline={{_base_.photometric_train_pipeline}}))
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

# the pieces of the train pipelines (the fine-tune configs reuse them)
load_image = dict(type='LoadImageFromFile')
load_label_map = dict(type='stl_mm.LoadTokenLabelMap',
                      map_root=label_map_root, num_classes=num_classes)
flip_with_coords = dict(type='stl_mm.RandomFlipWithCoords', prob=0.5,
                        direction='horizontal')
train_crop = dict(type='stl_mm.RandomResizedCropWithCoords', scale=img_size,
                  backend='pillow', interpolation='random')
randaug = dict(
    # upstream's op list (timm_increasing = rand-...-inc1); fill = the
    # mean colour, as timm's img_mean
    policies='timm_increasing',
    num_policies=randaug_num_policies,
    total_level=10,
    magnitude_level=9,
    magnitude_std=0.5,
    hparams=dict(
        pad_val=[round(x) for x in bgr_mean], interpolation='bicubic'))
label_map_randaug = dict(randaug, type='stl_mm.RandAugmentWithLabelMap')
photometric_randaug = dict(randaug, type='stl_mm.RandAugmentWithLabelMap',
                           warp_label_map=False)
random_erasing = dict(
    type='RandomErasing',
    erase_prob=0.25,
    mode='rand',
    min_area_ratio=0.02,
    max_area_ratio=1 / 3,
    fill_color=bgr_mean,
    fill_std=bgr_std)
pack_label_maps = dict(type='PackInputs',
                       algorithm_keys=['token_label_map',
                                       'token_label_coords'])

# upstream: flip, RandAugment (image and map), crop
train_pipeline = [load_image, load_label_map, flip_with_coords,
                  label_map_randaug, train_crop, random_erasing,
                  pack_label_maps]
# the switch: crop and flip recorded, photometric RandAugment ops only
photometric_train_pipeline = [load_image, load_label_map, train_crop,
                              flip_with_coords, photometric_randaug,
                              random_erasing, pack_label_maps]

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
