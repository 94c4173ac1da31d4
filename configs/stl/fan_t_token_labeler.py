# Short name of stl-labeler_fan-tiny-8-p4-hybrid-token_8xb128-360e_in1k.py (STL phase 1).
_base_ = ['./stl-labeler_fan-tiny-8-p4-hybrid-token_8xb128-360e_in1k.py']
