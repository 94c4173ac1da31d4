# STL phase 2 (online teacher) with an LV-ViT student on the demo data: the
# frozen FAN demo token labeler labels every student crop; both make 16x16
# patch tokens, so their token grids agree (checked when the model is built).
#   --cfg-options model.teacher.checkpoint=<phase-1 checkpoint>
_base_ = ['../../stl/demo/fan_demo_student.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='stl_mm.LVViT',
        arch=dict(embed_dims=64, depth=4, num_heads=4, stem_channels=16,
                  skip_lam=2.0),
        img_size=64),
    head=dict(in_channels=64, fusion='cls_plus_max'),
)
