# STL phase 1: train the token labeler fan_tiny_8_p4_hybrid_token on ImageNet-1K
# with image labels only (class term + mean-over-tokens term).
#   tools/dist_train.sh configs/stl/fan_t_token_labeler.py 8
# Its EMA checkpoint is the teacher of configs/stl/fan_t_student.py.
_base_ = ['../fan/fan_tiny-8-p4-hybrid-token_8xb128-350e_in1k.py']

