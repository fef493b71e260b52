"""grucast: forecast time-series files with a GRU network.

Importing the package is cheap: it does not import torch or pandas.
"""

__version__ = "0.2.0"
