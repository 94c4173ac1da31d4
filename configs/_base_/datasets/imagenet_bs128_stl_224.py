# ImageNet-1K for STL phase 2: the student view gets the full FAN/STL
# augmentation; the teacher view gets exactly the same spatial part
# (random-resized-crop, flip, RandAugment's geometric ops) and nothing else.
# Mixup/CutMix run in the data preprocessor, which records the mix so that
# the teacher's token labels are mixed identically.
# Used next to a phase-1 config as a second base: the names are distinct so
# that the student config picks them with {{_base_.stl_data_preprocessor}}
# and {{_base_.stl_train_pipeline}}.
stl_data_preprocessor = dict(
    _delete_=True,
    type='stl_mm.STLDataPreprocessor',
    num_classes=1000,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
    mix=dict(
        type='stl_mm.TokenMix',
        mixup_alpha=0.8,
        cutmix_alpha=1.0,
        switch_prob=0.5,
        prob=1.0,
        patch_size=16,
        # False reproduces the reference code: token labels left unmixed
        mix_token_labels=True),
)

stl_train_pipeline = [
    dict(type='stl_mm.LoadImageFromFile'),
    dict(type='stl_mm.AddTeacherView'),
    dict(
        type='stl_mm.TwoViewSpatial',
        transforms=[
            dict(type='RandomResizedCrop', scale=224, backend='pillow',
                 interpolation='bicubic'),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        ]),
    dict(
        type='stl_mm.TwoViewRandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(
            pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.3,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=[103.53, 116.28, 123.675],
        fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackInputs', algorithm_keys=['teacher_img']),
]
