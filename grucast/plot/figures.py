"""The figures: each function takes plain frames and texts and returns a matplotlib Figure.

Colours are Okabe and Ito's, safe for the common colour-vision deficiencies; the actuals and the
history are black, the model blue, the baselines dashed. One series fills one panel of 9 x 4
inches; many series make a grid of 3 columns, 4.5 x 2.8 inches a panel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pandas as pd

from grucast.plot import pyplot

BLACK, BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, YELLOW = (
    "#000000", "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")
MEMBERS = (BLUE, VERMILLION, GREEN, PURPLE, ORANGE, SKY, YELLOW, BLACK)
DPI = 100


def grid(n: int, one: tuple[float, float] = (9.0, 4.0), cell: tuple[float, float] = (4.5, 2.8)):
    """A figure of n panels (1: one wide panel; more: 3 columns), and its axes in reading order."""
    plt = pyplot()
    if n <= 1:
        fig, ax = plt.subplots(figsize=one, dpi=DPI)
        return fig, [ax]
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cell[0] * cols, cell[1] * rows), dpi=DPI, squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n]


def _finish(fig, axes, title: str, legend_ax: Any = None) -> None:
    fig.suptitle(title, fontsize=11)
    (legend_ax or axes[0]).legend(fontsize=7, loc="best", frameon=False)
    if len(axes) > 1:
        for ax in axes:
            ax.tick_params(labelsize=7)
    fig.autofmt_xdate() if _has_dates(axes) else None
    fig.tight_layout()


def _has_dates(axes) -> bool:
    import matplotlib.dates as mdates

    return any(isinstance(ax.xaxis.get_major_formatter(), (mdates.AutoDateFormatter, mdates.ConciseDateFormatter))
               for ax in axes)


@dataclass
class SeriesView:
    """One panel of a forecast plot: the history tail and the forecast of one series."""

    name: str
    history_t: Any  # times (datetimes or ints)
    history_y: np.ndarray
    forecast: pd.DataFrame  # time, forecast, lo-L / hi-L columns
    origin: Any = None
    future: dict[str, tuple[Any, np.ndarray]] = field(default_factory=dict)  # covariate -> (times, values)
    actual_t: Any = None  # the actuals that arrived after the origin (a past forecast against its truth)
    actual_y: Optional[np.ndarray] = None


def forecast_figure(views: list[SeriesView], time_label: str, value_label: str, model: str, levels: list[str]):
    """History tail, forecast, every interval band and the origin, one panel per series."""
    with_future = any(v.future for v in views)
    fig, axes = grid(len(views))
    for n, (ax, v) in enumerate(zip(axes, views)):
        ax.set_gid(f"panel-{n}")
        ax.plot(v.history_t, v.history_y, color=BLACK, lw=1.0, label="history", gid=f"history-{n}")
        f = v.forecast
        for i, level in enumerate(sorted(levels, key=float, reverse=True)):  # the widest band below
            if f"lo-{level}" in f and f"hi-{level}" in f:
                ax.fill_between(f["time"], f[f"lo-{level}"], f[f"hi-{level}"], color=BLUE, lw=0,
                                alpha=0.15 + 0.12 * i, label=f"{level}% interval", gid=f"band-{level}-{n}")
        ax.plot(f["time"], f["forecast"], color=BLUE, lw=1.5, label="forecast", gid=f"forecast-{n}")
        if v.actual_y is not None and len(v.actual_y):
            ax.plot(v.actual_t, v.actual_y, color=BLACK, lw=1.0, ls="--", label="actual", gid=f"actual-{n}")
        if v.origin is not None:
            ax.axvline(v.origin, color=BLACK, lw=0.8, ls=":", label="origin", gid=f"origin-{n}")
        if with_future and v.future:
            twin = ax.twinx()
            for (name, (t, y)), colour in zip(v.future.items(), (ORANGE, GREEN, PURPLE, VERMILLION) * 10):
                twin.plot(t, y, color=colour, lw=0.8, ls="--", label=name, gid=f"covariate-{name}-{n}")
                twin.set_ylabel("future covariates", fontsize=7)
            twin.tick_params(labelsize=7)
            twin.legend(fontsize=6, loc="upper left", frameon=False)
        ax.set_title(v.name, fontsize=9)
        ax.set_xlabel(time_label, fontsize=8)
        ax.set_ylabel(value_label, fontsize=8)
    _finish(fig, axes, f"Forecast of {model}" + (f", {len(views)} series" if len(views) > 1 else f": {views[0].name}"))
    return fig


def backtest_figure(panels: list[tuple[str, pd.DataFrame]], by_step: pd.DataFrame, time_label: str,
                    value_label: str, title: str):
    """Actuals against forecasts, window by window (baselines dashed), one panel per series, and
    the mean absolute error by horizon step of every model in a last panel."""
    fig, axes = grid(len(panels) + 1)
    for n, (ax, (name, f)) in enumerate(zip(axes, panels)):
        ax.set_gid(f"panel-{n}")
        actual = f[["time", "actual"]].drop_duplicates("time").sort_values("time")  # windows may overlap
        ax.plot(actual["time"], actual["actual"], color=BLACK, lw=1.0, label="actual", gid=f"actual-{n}")
        for i, (_, w) in enumerate(f.groupby("window", sort=True)):
            ax.plot(w["time"], w["forecast"], color=BLUE, lw=1.3, label="forecast" if i == 0 else None,
                    gid=f"forecast-{n}-{i}")
            ax.plot(w["time"], w["seasonal_naive"], color=GREEN, lw=0.9, ls="--", label="seasonal naive" if i == 0 else None)
            ax.plot(w["time"], w["naive"], color=ORANGE, lw=0.9, ls="--", label="naive" if i == 0 else None)
            ax.axvline(w["time"].iloc[0], color=BLACK, lw=0.5, ls=":")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(time_label, fontsize=8)
        ax.set_ylabel(value_label, fontsize=8)
    ax = axes[-1]
    ax.set_gid("panel-by-step")
    for col, colour, ls in (("forecast", BLUE, "-"), ("seasonal_naive", GREEN, "--"), ("naive", ORANGE, "--")):
        ax.plot(by_step["step"], by_step[col], color=colour, ls=ls, marker="o", ms=2.5, label=col.replace("_", " "))
    ax.set_title("Mean absolute error by horizon step", fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.set_ylabel(f"MAE ({value_label})", fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    _finish(fig, axes[:-1], title)
    return fig


def training_figure(history: pd.DataFrame, title: str):
    """Training and validation loss by step for every network of the model, the best step of
    each marked; the learning rate beneath when the checkpoint recorded it."""
    plt = pyplot()
    has_lr = "lr" in history and history["lr"].notna().any()
    fig, axes = plt.subplots(2 if has_lr else 1, 1, figsize=(9, 6 if has_lr else 4), dpi=DPI, squeeze=False,
                             sharex=True, gridspec_kw={"height_ratios": [3, 1]} if has_lr else None)
    ax = axes[0][0]
    for (member, h), colour in zip(history.groupby("member", sort=True), MEMBERS * 200):
        h = h.sort_values("step")
        label = f" (network {member + 1})" if history["member"].nunique() > 1 else ""  # numbered as train prints them
        train = h[h["train_loss"].notna()]
        ax.plot(train["step"], train["train_loss"], color=colour, lw=1.0, ls="--", label=f"training loss{label}")
        ax.plot(h["step"], h["val_loss"], color=colour, lw=1.5, label=f"validation loss{label}", gid=f"val-{member}")
        best = h.loc[h["val_loss"].idxmin()]
        ax.plot([best["step"]], [best["val_loss"]], marker="*", ms=11, color=colour, ls="none",
                label=f"best step {int(best['step']):,}{label}", gid=f"best-{member}")
    ax.set_ylabel("loss (scaled values)", fontsize=8)
    if has_lr:
        lr = axes[1][0]
        for (member, h), colour in zip(history.groupby("member", sort=True), MEMBERS * 200):
            lr.plot(h["step"], h["lr"], color=colour, lw=1.0, gid=f"lr-{member}")
        lr.set_ylabel("learning rate", fontsize=8)
        lr.set_xlabel("optimizer step", fontsize=8)
    else:
        ax.set_xlabel("optimizer step", fontsize=8)
    _finish(fig, [ax], title)
    return fig


def monitor_figure(per_origin: pd.DataFrame, coverage: pd.DataFrame, title: str, time_label: str):
    """MASE of the model and of seasonal naive per origin (one line per checkpoint), and the
    realized coverage of every interval beside its nominal level when there are intervals."""
    plt = pyplot()
    rows = 2 if len(coverage) else 1
    fig, axes = plt.subplots(rows, 1, figsize=(9, 3.5 * rows), dpi=DPI, squeeze=False, sharex=True)
    ax = axes[0][0]
    for (name, g), colour in zip(per_origin.groupby("checkpoint", sort=False), MEMBERS * 50):
        ax.plot(g["origin"], g["model"], color=colour, marker="o", ms=3, lw=1.3, label=f"model {name}", gid=f"mase-{name}")
        ax.plot(g["origin"], g["seasonal_naive"], color=colour, ls="--", lw=0.9, label=f"seasonal naive, {name}")
    ax.set_ylabel("MASE (mean over series)", fontsize=8)
    if len(coverage):
        cx = axes[1][0]
        for (level, g), colour in zip(coverage.groupby("level", sort=True), MEMBERS * 50):
            cx.plot(g["origin"], g["coverage"], color=colour, marker="o", ms=3, lw=1.2, label=f"{level}% interval")
            cx.axhline(float(level), color=colour, lw=0.8, ls=":")
        cx.set_ylabel("realized coverage (%)", fontsize=8)
        cx.legend(fontsize=7, frameon=False)
    axes[-1][0].set_xlabel(f"origin ({time_label})", fontsize=8)
    _finish(fig, [ax], title)
    return fig


def gates_figure(doc: dict[str, Any], title: str):
    """grucast gates: the share of the state surviving from k steps back, per layer, and the
    forecast's attribution by lag."""
    plt = pyplot()
    fig, (mem, att) = plt.subplots(2, 1, figsize=(9, 6.5), dpi=DPI)
    L = doc["input_size"]
    for i, layer in enumerate(doc["layers"]):
        curve = layer["survival"]
        ks = np.arange(len(curve))
        mem.plot(ks, curve, color=MEMBERS[i % len(MEMBERS)], lw=1.4, label=f"layer {i + 1}")
    mem.axhline(0.5, color=BLACK, lw=0.6, ls=":")
    mem.axhline(0.1, color=BLACK, lw=0.6, ls=":")
    mem.set_xlabel("k (steps back)", fontsize=8)
    mem.set_ylabel("state surviving", fontsize=8)
    mem.set_title("Effective memory", fontsize=9)
    mem.legend(fontsize=7, frameon=False)
    lags = sorted(int(k) for k in doc["attribution"])
    att.bar(lags, [doc["attribution"][str(k)] if str(k) in doc["attribution"] else doc["attribution"][k] for k in lags],
            color=BLUE, width=0.8)
    if doc.get("suggested_input_size") and doc["suggested_input_size"] != L:
        att.axvline(doc["suggested_input_size"], color=VERMILLION, lw=1.0, ls="--",
                    label=f"suggested --input-size {doc['suggested_input_size']}")
        att.legend(fontsize=7, frameon=False)
    att.set_xlabel("lag (steps before the origin)", fontsize=8)
    att.set_ylabel("share of attribution", fontsize=8)
    att.set_title(f"Forecast attribution by lag (input {L} steps)", fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
