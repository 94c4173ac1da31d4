# fan_small_12_p4_hybrid_token: STL token labeler (phase 1) on ImageNet-1K; its checkpoints
# are the teachers of configs/stl/*_student.py.
_base_ = ['../_base_/stl_token_labeler_in1k_350e.py']

model = dict(
    backbone=dict(arch='fan_small_12_p4_hybrid_token', drop_path_rate=0.25),
    head=dict(in_channels=384))
