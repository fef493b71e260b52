"""Everything the network reads, laid out so that a window is one index: spec (what is read and
how it is scaled, stored in the checkpoint), calendar, future covariates over the horizon,
layout (the per-point arrays), windows (index arithmetic) and scaling.
"""
