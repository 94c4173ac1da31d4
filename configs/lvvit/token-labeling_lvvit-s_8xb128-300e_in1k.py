# LV-ViT-S with Token Labeling from offline label maps (ImageNet-1K, 224px).
#   tools/dist_train.sh configs/lvvit/token-labeling_lvvit-s_8xb128-300e_in1k.py 8
_base_ = ['./_base_/token-labeling_lvvit_in1k_300e.py']

model = dict(
    backbone=dict(arch='lvvit_s', drop_path_rate=0.1),
    head=dict(in_channels=384))
