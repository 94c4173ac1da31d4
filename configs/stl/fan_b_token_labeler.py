# Short name of stl-labeler_fan-base-16-p4-hybrid-token_32xb64-360e_in1k.py (STL phase 1).
_base_ = ['./stl-labeler_fan-base-16-p4-hybrid-token_32xb64-360e_in1k.py']
