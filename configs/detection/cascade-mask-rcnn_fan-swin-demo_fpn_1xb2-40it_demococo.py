# The FAN-Swin detection config shrunk to CPU scale: the demo recipe of
# cascade-mask-rcnn_fan-demo (generated COCO-format scenes, 5 epochs x 8
# iterations) on a tiny custom FAN-Swin from scratch.
_base_ = ['./cascade-mask-rcnn_fan-demo_fpn_1xb2-40it_demococo.py']

fan_swin_demo_arch = dict(
    embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4])
model = dict(
    backbone=dict(
        _delete_=True,
        type='stl_mm.FANSwin',
        arch=fan_swin_demo_arch,
        out_indices=(0, 1, 2, 3),
        out_norms=True,
        drop_path_rate=0.1,
        init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 128]))
find_unused_parameters = False
