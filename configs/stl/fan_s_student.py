# Short name of stl_fan-small-12-p4-hybrid-token_8xb128-360e_in1k.py (STL phase 2).
_base_ = ['./stl_fan-small-12-p4-hybrid-token_8xb128-360e_in1k.py']
