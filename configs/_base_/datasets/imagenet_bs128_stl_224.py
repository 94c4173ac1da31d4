# ImageNet-1K for STL phase 2: the student view gets the full FAN/STL
# augmentation (./imagenet_bs128_fan_224.py); the teacher view gets exactly
# the same spatial part (random-resized crop with the same interpolation,
# flip, RandAugment's geometric ops) and nothing else. Mixup/CutMix and
# random erasing of the student view run in the model's data preprocessor,
# which records the mix so that the teacher's token labels are mixed alike.
_base_ = ['./imagenet_bs128_fan_224.py']

train_pipeline = [
    dict(type='stl_mm.LoadImageFromFile'),
    dict(type='stl_mm.AddTeacherView'),
    dict(
        type='stl_mm.TwoViewSpatial',
        transforms=[
            dict(type='stl_mm.RandomResizedCropAndInterpolation', scale=224,
                 backend='pillow', interpolation='random'),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        ]),
    dict(
        type='stl_mm.TwoViewRandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(type='PackInputs', algorithm_keys=['teacher_img']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
