# STL phase 2 with an LV-ViT-S student: the frozen FAN-S-Hybrid token labeler
# (phase 1, configs/stl/fan_s_token_labeler.py) labels every crop online;
# the STL/FAN ImageNet recipe otherwise (configs/stl/fan_s_student.py).
# Both models have 16x16 patch tokens (checked when the model is built).
#   tools/dist_train.sh configs/lvvit/stl_lvvit-s_fan-s-teacher_8xb128-300e_in1k.py 8 \
#       --cfg-options model.teacher.checkpoint=<phase-1 checkpoint>
_base_ = ['../stl/fan_s_student.py']

model = dict(
    backbone=dict(_delete_=True, type='stl_mm.LVViT', arch='lvvit_s',
                  img_size=224, drop_path_rate=0.1),
    head=dict(in_channels=384),
)
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'pos_embed': dict(decay_mult=0.0)}))
