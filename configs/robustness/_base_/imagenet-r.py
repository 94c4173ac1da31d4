# ImageNet-R: <data_root>/<wnid>/*.jpg, 200 classes; the metric keeps the
# 200 matching columns of the 1000-class scores (dataset metainfo
# logit_indices) before top-k, as upstream does.
# Override the root with
#   --cfg-options test_dataloader.dataset.data_root=/path/to/imagenet-r
robustness_test_dataloader = dict(
    _delete_=True,
    batch_size=128,
    num_workers=8,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='stl_mm.ImageNetR',
        data_root='data/imagenet-r',
        test_mode=True,
        pipeline=[
            dict(type='stl_mm.LoadImageFromFile'),
            dict(type='ResizeEdge', scale=224, edge='short',
                 backend='pillow', interpolation='bicubic'),
            dict(type='CenterCrop', crop_size=224),
            dict(type='PackInputs'),
        ]),
)
robustness_test_evaluator = dict(
    _delete_=True,
    type='stl_mm.OODSubsetMetric', prefix='imagenet-r',
                      topk=(1, 5), output_prefix=None)
