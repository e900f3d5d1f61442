"""Code generation: the IR and its plan rendered as readable PyTorch (`model.py`, `train.py`).

Python decides (`context.py`, `kinds.py`); the jinja2 templates only lay the code out.
"""
