"""How good forecasts are: metrics (one place for every score), baselines (naive, seasonal
naive) and the conformal calibration of quantiles on held-out windows.
"""
