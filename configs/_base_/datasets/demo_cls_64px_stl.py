# STL phase-2 data parts for the embedded demo set (64x64): the two-view
# pipeline, under a name distinct from the demo dataset base so that a
# student config can take both as bases.
# The demo keeps the augmentation mild for its budget of about a thousand
# iterations (12 epochs, no overfitting to fight): the same crop + flip for
# student and teacher views, no RandAugment (the ImageNet recipe adds
# stl_mm.TwoViewRandAugment after TwoViewSpatial) and no Mixup/CutMix.
# The student's data preprocessor (configs/stl/demo/fan_demo_student.py)
# holds the ImageNet-style mixing, switched off here; switch it on with
#   --cfg-options model.data_preprocessor.mix.prob=0.5
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
