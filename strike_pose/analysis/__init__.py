"""Analyses of a scene over many poses: the pose map (the model's verdict over two pose axes, coarse to
fine; posemap.py) and its pictures (mapdraw.py)."""
