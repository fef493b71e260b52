"""Plots of forecasts, backtests, training and monitoring, drawn from the frames the workflows
already produce, as PNG or SVG files a person opens (and an HTML report that holds them).

matplotlib is an optional extra (`pip install 'grucast[plot]'`): it is imported only here, only
when a plot is drawn, with the Agg backend (no display: it works under cron), so no other
command pays for it. figures builds the figures; save writes them atomically with fixed
metadata, so the same inputs give the same bytes.
"""

from __future__ import annotations

from typing import Any

from grucast.errors import ConfigError

INSTALL = "pip install 'grucast[plot]'"


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend; ConfigError with the install line when missing."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(f"plotting needs matplotlib, which is not installed: {INSTALL}") from None
    matplotlib.use("Agg", force=True)
    # Titles and labels carry text from the data (series ids, column and file names): never read
    # as TeX math (an id '$\frac{$' would fail to draw, '$x$' would be drawn as a formula).
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    return plt
