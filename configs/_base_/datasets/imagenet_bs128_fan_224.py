# ImageNet-1K, 224x224, the training augmentation of the FAN/STL recipes:
# random-resized crop with bilinear or bicubic interpolation per image
# (--train-interpolation random), flip 0.5, RandAugment rand-m9-mstd0.5-inc1.
# Mixup/CutMix and random erasing (--reprob 0.3 --remode pixel) run after
# it, in the model's data preprocessor (configs/_base_/models/fan.py), in
# that order, as timm's prefetcher does. Label smoothing 0.1 is in the head.
# Eval: bicubic resize of the short side to 224, centre crop (crop_pct 1.0).
dataset_type = 'ImageNet'
data_root = 'data/imagenet'

train_pipeline = [
    dict(type='stl_mm.LoadImageFromFile'),
    dict(
        type='stl_mm.RandomResizedCropAndInterpolation',
        scale=224,
        backend='pillow',
        interpolation='random'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        # fill of the geometric ops: the ImageNet mean (BGR), as timm
        hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(type='PackInputs'),
]

test_pipeline = [
    dict(type='stl_mm.LoadImageFromFile'),
    dict(type='ResizeEdge', scale=224, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline),
)

val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        pipeline=test_pipeline),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
