"""How good forecasts are: metrics (one registry of every score), baselines (naive, seasonal
naive), scoring (the GRU beside the baselines on held-out windows, shared by validation, evaluate
and backtest) and the conformal calibration of quantiles on held-out windows.
"""
