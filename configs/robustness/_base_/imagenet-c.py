# ImageNet-C: <data_root>/<corruption>/<severity>/<wnid>/*.JPEG, all 19
# corruptions x 5 severities (the 15 common ones enter mCE, the 4 extra ones
# are reported separately). The images are 224x224 already, the resize is a
# no-op kept for generated sets of other sizes.
# Override with --cfg-options test_dataloader.dataset.data_root=... ,
#   test_dataloader.dataset.corruptions=common ,
#   test_evaluator.output_prefix=work_dirs/x/imagenet-c (JSON + CSV files).
robustness_test_dataloader = dict(
    _delete_=True,
    batch_size=128,
    num_workers=8,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='stl_mm.ImageNetC',
        data_root='data/imagenet-c',
        corruptions='all',
        severities=(1, 2, 3, 4, 5),
        test_mode=True,
        pipeline=[
            dict(type='stl_mm.LoadImageFromFile'),
            dict(type='ResizeEdge', scale=224, edge='short',
                 backend='pillow', interpolation='bicubic'),
            dict(type='CenterCrop', crop_size=224),
            # the metric groups results by these two sample keys
            dict(type='PackInputs',
                 meta_keys=('sample_idx', 'img_path', 'ori_shape',
                            'img_shape', 'corruption', 'severity')),
        ]),
)
robustness_test_evaluator = dict(
    _delete_=True,
    type='stl_mm.ImageNetCMetric', allow_partial=False,
                      output_prefix=None)
