# STL token labeler (phase 1): a FAN-Hybrid `_token` model with a class head
# and a per-token head, trained on image labels only (class term + term of
# the mean over token logits, upstream --cls-with-single-token-label),
# smoothing 0.1. Same preprocessor as the FAN classifier (./fan.py).
_base_ = ['./fan.py']

model = dict(
    backbone=dict(out_type='cls_and_patch'),
    head=dict(
        _delete_=True,
        type='stl_mm.TokenLabelHead',
        num_classes=1000,
        mode='labeler',
        label_smooth=0.1,
        cls_weight=1.0,
        dense_weight=1.0,
        # training-time validation on the class head, as upstream main.py
        fusion='cls'),
)
