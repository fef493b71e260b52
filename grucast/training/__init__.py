"""How weights are fitted: defaults (settings that depend on the data), loop (the optimisation),
losses, and runtime (devices and threads).
"""
