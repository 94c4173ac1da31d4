# Cascade Mask R-CNN + FPN on an STL student (fan_large_16_p4_hybrid_token) for
# COCO. The STL detection backbone adds a LayerNorm on each of the four
# outputs (out_norms); the student's class head and per-token classifier
# (aux_head) go unused. Recipe as the FAN config.
_base_ = ['./cascade-mask-rcnn_fan-large-16-p4-hybrid_fpn_8xb1-3x_coco.py']

# An STL student checkpoint: upstream (.pth.tar, EMA weights preferred) or
# ours (the phase-2 work dir's .pth).
checkpoint = 'pretrained/fan_large_16_p4_hybrid_token.pth.tar'
model = dict(
    backbone=dict(
        arch='fan_large_16_p4_hybrid_token',
        out_norms=True,
        init_cfg=dict(checkpoint=checkpoint)))
