# ImageNet-1k validation top-1/top-5 for the robustness report.
# Folder layout <data_root>/val/<wnid>/*.JPEG; labels follow the sorted 1000
# wnids (stl_mm.ImageNetVal), never the folders found on disk.
# Upstream (FAN/STL validate) preprocessing: resize to 224 (crop_pct 1.0),
# bicubic; mean/std come from the model's data_preprocessor.
# Override the root with
#   --cfg-options test_dataloader.dataset.data_root=/path/to/imagenet
robustness_test_dataloader = dict(
    _delete_=True,
    batch_size=128,
    num_workers=8,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='stl_mm.ImageNetVal',
        data_root='data/imagenet',
        data_prefix='val',
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
    type='Accuracy', topk=(1, 5))
