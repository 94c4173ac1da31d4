# Token Labeling from offline label maps with a FAN student on the demo data
# (same maps as token-labeling_lvvit-demo_1xb16-12e_demo-64px.py). FAN has no
# MixToken: images are mixed in the data preprocessor (stl_mm.TokenMix, with
# a patch-aligned CutMix box) and the token targets follow the recorded mix.
_base_ = ['./token-labeling_lvvit-demo_1xb16-12e_demo-64px.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='stl_mm.FAN',
        arch=dict(embed_dims=64, depth=4, num_heads=4, stem='hybrid',
                  hybrid_depths=[1, 1], dense_index=3),
        out_type='cls_and_patch'),
    mix_token=None,
    data_preprocessor=dict(
        _delete_=True,
        type='stl_mm.STLDataPreprocessor',
        num_classes=4,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True,
        mix=dict(type='stl_mm.TokenMix', mixup_alpha=0.8, cutmix_alpha=1.0,
                 switch_prob=0.5, prob=0.5, patch_size=16)),
)
