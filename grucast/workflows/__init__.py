"""What one command does, without a terminal: train, predict, check, info, evaluate and
backtest, from paths to results and published outputs. grucast.api is their public face.
"""
