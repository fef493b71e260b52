"""Windows are index arithmetic: properties that must hold for any panel shape."""

import dataclasses

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grucast.features import calendar, layout, scaling
from grucast.features import spec as features_spec
from grucast.features.windows import gather, series_of, split_windows

lengths_st = st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=8)


def offsets_of(lengths):
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


@settings(max_examples=200, deadline=None)
@given(lengths=lengths_st, L=st.integers(1, 12), H=st.integers(1, 6), extra=st.integers(0, 6))
def test_split_windows_properties(lengths, L, H, extra):
    V = H + extra
    offsets = offsets_of(lengths)
    train, val = split_windows(offsets, L, H, V)
    n = np.asarray(lengths)
    # Number of windows: every position that fits, per series.
    assert len(train) == int(np.maximum(n - V - L - H + 1, 0).sum())
    assert len(val) == int(np.maximum(n - H - np.maximum(n - V, L) + 1, 0).sum())
    for starts, part in ((train, "train"), (val, "val")):
        s = series_of(offsets, starts)
        rel = starts - offsets[s]
        # A window lies inside one series.
        assert (rel >= 0).all() and (rel + L + H <= n[s]).all()
        # Its target starts exactly where its input ends.
        target_start = starts + L
        assert (target_start - offsets[s] == rel + L).all()
        if part == "train":
            # Training targets end before the validation part starts: nothing leaks.
            assert (rel + L + H <= n[s] - V).all()
        else:
            assert (rel + L >= n[s] - V).all()
    assert len(np.unique(train)) == len(train)


@settings(max_examples=100, deadline=None)
@given(lengths=lengths_st, L=st.integers(1, 12), pad=st.integers(0, 11))
def test_last_windows_end_at_the_series_end(lengths, L, pad):
    # Series are laid out behind `pad` padding points; a padded model forecasts a series from
    # L - pad observed points on, a plain one needs L.
    pad = min(pad, L - 1)
    n = np.asarray(lengths, dtype=np.int64)
    offsets = offsets_of(list(n + pad))
    data = dataclasses.replace(layout.plain(np.zeros(int(offsets[-1])), offsets, "none"),
                               lengths=n, pad=pad, mask=pad > 0)
    ok, starts = data.last_starts(L)
    assert list(ok) == [i for i, k in enumerate(n) if k >= L - pad]
    assert (starts + L == offsets[1:][ok]).all()


def test_gather_numpy_and_torch_agree():
    values = np.arange(20, dtype=np.float32)
    starts = np.array([0, 5, 13])
    a = gather(values, starts, 4)
    b = gather(torch.from_numpy(values), torch.from_numpy(starts), 4).numpy()
    assert a.tolist() == b.tolist() == [[0, 1, 2, 3], [5, 6, 7, 8], [13, 14, 15, 16]]


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=2, max_size=30), min_size=1, max_size=5),
    method=st.sampled_from(scaling.METHODS),
)
def test_scaling_round_trips(rows, method):
    width = min(len(r) for r in rows)
    x = torch.tensor([r[:width] for r in rows], dtype=torch.float64)
    if method == "last":  # the series' spread comes from outside the window: any, zero included
        loc, scale = scaling.last(x, x.std(dim=1, unbiased=False) * (torch.arange(len(x)) % 2))
    else:
        loc, scale = scaling.fit(x, method)
    assert (scale > 0).all()
    back = scaling.invert(scaling.apply(x, loc, scale), loc, scale)
    assert torch.allclose(back, x, rtol=1e-9, atol=1e-9 * (1 + x.abs().max().item()))


def test_standard_scaling_uses_the_input_only():
    x = torch.tensor([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]])
    loc, scale = scaling.fit(x, "standard")
    assert loc.squeeze().tolist() == [2.0, 5.0]
    assert abs(scale[0].item() - np.std([1, 2, 3])) < 1e-6
    assert scale[1].item() == 6.0  # a flat window falls back to its level + 1, never zero
    assert scaling.apply(x, loc, scale)[1].abs().max() == 0


def test_calendar_rows_of_every_window_are_those_of_its_own_timestamps(tmp_path):
    """The calendar table (one row per grid step shared by the series, or one per point when
    they share no grid) gives every window exactly the sine/cosine of its own timestamps, in the
    padding before a series and in the horizon after it too."""
    import pandas as pd

    from grucast.config.settings import DataConfig
    from grucast.data.freq import time_at
    from grucast.data.panel import build_panel
    from grucast.data.table import load_table

    cases = [
        (["2024-01-01 00:00", "2024-01-01 05:00", "2023-12-31 13:00"], "h"),  # one hourly grid: shared rows
        (["2024-01-01 00:00", "2024-01-01 00:30"], "h"),  # off each other's grid: a row per point
        (["2010-01-31", "2011-06-30"], "ME"),  # months: a row per point
    ]
    for starts, freq in cases:
        frames = [pd.DataFrame({"id": f"s{i}", "t": pd.date_range(s, periods=40 + 7 * i, freq=freq),
                                "y": np.arange(40 + 7 * i, dtype=float)}) for i, s in enumerate(starts)]
        pd.concat(frames).to_csv(tmp_path / "d.csv", index=False)
        panel = build_panel(load_table(tmp_path / "d.csv", DataConfig()), "interpolate")
        names = calendar.calendar_names(panel.freq)
        spec = features_spec.FeatureSpec(calendar=names, pad=5)
        pad, ext, L, H = 5, 3, 10, 3
        data = layout.build(panel, spec, "standard", "cpu", ext=ext)
        shared = len(data.calendar) < int(data.offsets[-1])
        assert shared == (freq == "h" and starts[1] != "2024-01-01 00:30")
        for i in range(panel.n_series):
            first = int(data.offsets[i])  # the first padding point of series i
            last = int(data.offsets[i + 1]) - (L + H)
            win = torch.tensor([first, (first + last) // 2, last])
            inputs, _ = data.batch(win, L, H, target=False)
            k = win.numpy()[:, None] - first - pad + np.arange(L + H)  # grid steps, negative in the padding
            stamps = time_at(panel.freq, np.full(k.shape, panel.start[i]), k)
            expected = calendar.calendar_values(names, stamps).reshape(3, L + H, -1)
            assert torch.equal(inputs["covs"], torch.from_numpy(expected[:, :L]))
            assert torch.equal(inputs["ahead"], torch.from_numpy(expected[:, L:]))
