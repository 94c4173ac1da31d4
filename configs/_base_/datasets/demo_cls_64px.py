# The embedded demo set (tools/make_demo_data.py): 4 shape classes on
# textured backgrounds, 64x64 images, ImageNet-style annotation lists.
dataset_type = 'CustomDataset'
data_root = 'data/demo/cls'
num_classes = 4
# (the data preprocessor is part of each model config)

train_pipeline = [
    dict(type='stl_mm.LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=64,
        crop_ratio_range=(0.6, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]

# images of any size are brought to the model size (64x64, a multiple of
# the patch size 16), so validation batches never need padding
test_pipeline = [
    dict(type='stl_mm.LoadImageFromFile'),
    dict(type='ResizeEdge', scale=64, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        ann_file='meta/train.txt',
        pipeline=train_pipeline),
)

val_dataloader = dict(
    batch_size=32,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='val',
        ann_file='meta/val.txt',
        pipeline=test_pipeline),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
