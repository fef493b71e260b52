"""statsforecast's AutoETS, AutoTheta and MSTL on the series of one class, for small_data.py.

    python benchmarks/_stats.py IN.npz OUT.npz

Run by small_data.py with the python given by --stats-python: statsforecast 2.1 needs pandas < 3,
so it lives in a virtual environment of its own, never beside grucast. IN holds the series end to
end (values, offsets), horizon and season; OUT gets each model's [n, horizon] forecasts (naive
where a model fails, returns non-finite values or needs more points) and a JSON report of how
many fell back, why, and the seconds each model took.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
import warnings

import numpy as np


def main(src: str, dst: str) -> None:
    from statsforecast.models import MSTL, AutoETS, AutoTheta

    d = np.load(src)
    values, offsets, H, m = d["values"], d["offsets"], int(d["horizon"]), int(d["season"])
    series = [values[a:b] for a, b in itertools.pairwise(offsets)]
    makers = {
        "AutoETS": (lambda: AutoETS(season_length=m), 1),
        "AutoTheta": (lambda: AutoTheta(season_length=m), 1),
        "MSTL": (lambda: MSTL(season_length=m, trend_forecaster=AutoETS(model="ZZN")), 2 * m),
    }
    out, report = {}, {"models": list(makers), "fell": {}, "why": {}, "seconds": {}}
    for name, (make, need) in makers.items():
        t0 = time.perf_counter()
        rows, why = [], {}
        for x in series:
            f = None
            if len(x) >= need:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        f = np.asarray(make().forecast(y=x.astype(np.float64), h=H)["mean"], dtype=float)
                    if f.shape != (H,) or not np.all(np.isfinite(f)):
                        why["non-finite"] = why.get("non-finite", 0) + 1
                        f = None
                except Exception as e:  # noqa: BLE001 - any failure of a baseline model means naive
                    key = f"{type(e).__name__}: {str(e)[:60]}"
                    why[key] = why.get(key, 0) + 1
            else:
                key = f"shorter than {need} points"
                why[key] = why.get(key, 0) + 1
            rows.append(np.full(H, float(x[-1])) if f is None else f)
        out[name] = np.stack(rows)
        report["fell"][name] = sum(why.values())
        report["why"][name] = why
        report["seconds"][name] = time.perf_counter() - t0
    np.savez(dst, report=json.dumps(report), **out)


if __name__ == "__main__":
    main(*sys.argv[1:3])
