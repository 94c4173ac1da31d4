# SegFormer head on an STL student (fan_large_16_p4_hybrid_token) for
# Cityscapes. The student has the backbone of fan_large_16_p4_hybrid; its class
# head and per-token classifier (aux_head) go unused. Recipe as the FAN
# config.
_base_ = ['./segformer_fan-large-16-p4-hybrid_8xb1-160k_cityscapes-1024x1024.py']

# An STL student checkpoint: upstream (.pth.tar, EMA weights preferred) or
# ours (the phase-2 work dir's .pth).
checkpoint = 'pretrained/fan_large_16_p4_hybrid_token.pth.tar'
model = dict(
    backbone=dict(
        arch='fan_large_16_p4_hybrid_token',
        init_cfg=dict(checkpoint=checkpoint)))
