"""The network and how it runs: network (the GRU forecaster and ensembles), kernels (grucast's
fused CPU GRU, csrc/) and inference (batched forecasts over a layout).
"""
