# The FAN-Swin segmentation config shrunk to CPU scale: the demo recipe of
# segformer_fan-demo (generated 128x256 Cityscapes-format scenes, 40
# iterations) on a tiny custom FAN-Swin from scratch.
_base_ = ['./segformer_fan-demo_1xb2-40it_democity-128x256.py']

fan_swin_demo_arch = dict(
    embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4])
model = dict(
    backbone=dict(
        _delete_=True,
        type='stl_mm.FANSwin',
        arch=fan_swin_demo_arch,
        out_indices=(0, 1, 2, 3),
        out_norms=True,
        init_cfg=None),
    decode_head=dict(in_channels=[16, 32, 64, 128]))
find_unused_parameters = False
