# STL phase 1: train the token labeler fan_large_16_p4_hybrid_token on ImageNet-1K
# with image labels only (class term + mean-over-tokens term).
#   tools/dist_train.sh configs/stl/fan_l_token_labeler.py 8  # x 4 nodes, see README
# Its EMA checkpoint is the teacher of configs/stl/fan_l_student.py.
_base_ = ['../fan/fan_large-16-p4-hybrid-token_32xb64-350e_in1k.py']

