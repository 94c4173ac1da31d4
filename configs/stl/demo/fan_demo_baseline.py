# Baseline for the demo: the student's architecture, augmentation and budget,
# trained on image labels alone (class token + linear head, no token labels).
_base_ = ['./fan_demo_student.py']

model = dict(
    _delete_=True,
    type='ImageClassifier',
    # the student's preprocessor (same Mixup/CutMix); no teacher view
    data_preprocessor={{_base_.model.data_preprocessor}},
    backbone=dict(
        type='stl_mm.FAN',
        arch={{_base_.fan_demo_arch}},
        drop_path_rate=0.),
    head=dict(
        type='LinearClsHead',
        num_classes={{_base_.num_classes}},
        in_channels=64,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                  mode='original')),
)

# same views (crop + flip) as the student; there is no teacher view
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='stl_mm.LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.6, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]))
