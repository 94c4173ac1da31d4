# Short name of stl_fan-large-16-p4-hybrid-token_32xb64-360e_in1k.py (STL phase 2).
_base_ = ['./stl_fan-large-16-p4-hybrid-token_32xb64-360e_in1k.py']
