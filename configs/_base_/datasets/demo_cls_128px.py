# Pipelines and class names of the STL demo's set (tools/run_demo.py;
# stl_mm.datasets.demo_data with cls_style='texture'): 4 classes told apart
# by the object's fill pattern, random object outlines on untextured clutter,
# 128x128 images (an 8x8 grid of 16x16 tokens). The names carry a demo128_
# prefix so that a config can take this file and a 64 px demo config (whose
# loaders it keeps) as bases.
demo128_data_root = 'data/demo/cls'
demo128_classes = ['class_00_stripes', 'class_01_checker', 'class_02_dots',
                   'class_03_hatch']
_crop_flip = [
    dict(type='RandomResizedCrop', scale=128, crop_ratio_range=(0.6, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
]
demo128_train_pipeline = [
    dict(type='stl_mm.LoadImageFromFile'), *_crop_flip,
    dict(type='PackInputs'),
]
# STL phase 2: one crop + flip for both views (the teacher labels the
# student's crop)
demo128_stl_train_pipeline = [
    dict(type='stl_mm.LoadImageFromFile'),
    dict(type='stl_mm.AddTeacherView'),
    dict(type='stl_mm.TwoViewSpatial', transforms=_crop_flip),
    dict(type='PackInputs', algorithm_keys=['teacher_img']),
]
# images of any size are brought to the model size (128x128)
demo128_test_pipeline = [
    dict(type='stl_mm.LoadImageFromFile'),
    dict(type='ResizeEdge', scale=128, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=128),
    dict(type='PackInputs'),
]
demo128_val_dataloader = dict(
    batch_size=64,
    dataset=dict(data_root=demo128_data_root, pipeline=demo128_test_pipeline,
                 metainfo=dict(classes=demo128_classes)))
# the demo's FAN: the ViT-style conv stem (four 3x3 stride-2 convs) and two
# FAN blocks of width 64; at 128 px the hybrid ConvNeXt stem (128/256
# channels at strides 4/8) costs about 7x more per step, and four blocks
# 1.4x more than two (docs/demo.md), beyond the demo's CPU budget
# (_delete_: it replaces, not extends, the 64 px configs' hybrid arch)
fan_demo128_arch = dict(_delete_=True, embed_dims=64, depth=2, num_heads=4,
                        stem='conv')
# the demo's schedules (75 iterations of batch 16 per epoch on 4 x 300
# images; tools/run_demo.py --epochs / --labeler-epochs change them): the
# students 9 epochs, the token labeler 15 (its token labels separate object
# from background only once it is well trained); one validation at the end
demo128_epochs = 9
demo128_labeler_epochs = 15


def _schedule(epochs):
    return [
        dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0,
             end=1, convert_to_iter_based=True),
        dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1,
             end=epochs, convert_to_iter_based=True),
    ]


demo128_train_cfg = dict(max_epochs=demo128_epochs,
                         val_interval=demo128_epochs)
demo128_param_scheduler = _schedule(demo128_epochs)
demo128_checkpoint = dict(interval=demo128_epochs)
demo128_labeler_train_cfg = dict(max_epochs=demo128_labeler_epochs,
                                 val_interval=demo128_labeler_epochs)
demo128_labeler_param_scheduler = _schedule(demo128_labeler_epochs)
demo128_labeler_checkpoint = dict(interval=demo128_labeler_epochs)
