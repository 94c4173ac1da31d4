# STL phase-2 data parts for the embedded demo set (64x64): the two-view
# pipeline and the mixing preprocessor, under names distinct from the demo
# dataset base so that a student config can take both as bases.
# The demo keeps the augmentation mild for its budget of about a thousand
# iterations (12 epochs, no overfitting to fight): the same crop + flip for
# student and teacher views, no RandAugment (the ImageNet recipe adds
# stl_mm.TwoViewRandAugment after TwoViewSpatial) and no Mixup/CutMix.
# `stl_mix` below is the ImageNet-style mixing with the token labels mixed
# alike (MixToken); switch it on with
#   --cfg-options data_preprocessor.mix.prob=0.5
# (or set `mix=stl_mix` in stl_data_preprocessor).
stl_mix = dict(
    type='stl_mm.TokenMix',
    mixup_alpha=0.8,
    cutmix_alpha=1.0,
    switch_prob=0.5,
    prob=0.,
    patch_size=16,
    mix_token_labels=True)
stl_data_preprocessor = dict(
    _delete_=True,
    type='stl_mm.STLDataPreprocessor',
    num_classes=4,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
    mix=stl_mix,
)

stl_train_pipeline = [
    dict(type='stl_mm.LoadImageFromFile'),
    dict(type='stl_mm.AddTeacherView'),
    dict(
        type='stl_mm.TwoViewSpatial',
        transforms=[
            dict(type='RandomResizedCrop', scale=64,
                 crop_ratio_range=(0.6, 1.0), backend='pillow',
                 interpolation='bicubic'),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        ]),
    dict(type='PackInputs', algorithm_keys=['teacher_img']),
]
