# FAN classifier (class token + linear head) for ImageNet-1K, with the data
# preprocessor of the official FAN/STL recipes inside the model, so that
# `--cfg-options model.data_preprocessor.X=...` edits the one that is used:
# normalisation, timm-exact Mixup 0.8 / CutMix 1.0 (reversed-batch partner,
# pixel boxes, switch 0.5, every batch), then random erasing 0.3 of the
# mixed batch with per-pixel normal noise (timm's prefetcher order).
# Variant configs set the backbone arch, drop-path rate and head width.
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
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
            # no token labels in this model: timm's pixel boxes
            mix_token_labels=False),
        erase=dict(
            type='stl_mm.BatchRandomErasing',
            prob=0.3,
            mode='pixel',
            min_area=0.02,
            max_area=1 / 3,
            min_aspect=0.3)),
    backbone=dict(
        type='stl_mm.FAN',
        # upstream: every FAN block drops with drop_path_rate
        drop_path_schedule='uniform'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')),
)
