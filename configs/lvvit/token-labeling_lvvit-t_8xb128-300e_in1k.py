# LV-ViT-T with Token Labeling from offline label maps (ImageNet-1K, 224px).
# drop-path 0.1: the README gives no LV-ViT-T recipe (our choice, as S).
_base_ = ['./_base_/token-labeling_lvvit_in1k_300e.py']

model = dict(
    backbone=dict(arch='lvvit_t', drop_path_rate=0.1),
    head=dict(in_channels=240))
