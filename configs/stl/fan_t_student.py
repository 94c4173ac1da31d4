# Short name of stl_fan-tiny-8-p4-hybrid-token_8xb128-360e_in1k.py (STL phase 2).
_base_ = ['./stl_fan-tiny-8-p4-hybrid-token_8xb128-360e_in1k.py']
