"""The flags the commands share: choices, option objects and the mapping of data flags onto
the config.
"""

from __future__ import annotations

from enum import Enum

import typer


class DataFormat(str, Enum):
    auto = "auto"
    long = "long"
    wide = "wide"


class Fill(str, Enum):
    interpolate = "interpolate"
    ffill = "ffill"
    zero = "zero"
    error = "error"


class Duplicates(str, Enum):
    error = "error"
    mean = "mean"
    sum = "sum"
    last = "last"
    first = "first"


class Loss(str, Enum):
    mae = "mae"
    mse = "mse"
    huber = "huber"


class Precision(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"


class Kernel(str, Enum):
    auto = "auto"
    fused = "fused"
    reference = "reference"


KERNEL_HELP = ("What runs the GRU: auto (grucast's fused kernel on the CPU in float32, built once per machine; "
               "nn.GRU/cuDNN on a GPU), fused, or reference (PyTorch's nn.GRU).")


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


# Options shared by the commands that read a data file the way train does.
CONFIG_OPT = typer.Option(None, "--config", help="YAML file with data/model/training sections; flags win.")


FORMAT_OPT = typer.Option(None, "--format", help="Layout of the file (default: auto-detect).")


TIME_COL_OPT = typer.Option(None, "--time-col", help="Time column (detected when unambiguous).")


ID_COL_OPT = typer.Option(None, "--id-col", help="Series id column of a long file (detected when unambiguous).")


TARGET_OPT = typer.Option(None, "--target", help="Column to forecast (detected when unambiguous).")


FILL_OPT = typer.Option(None, "--fill", help="Gaps in the time grid: interpolate (default), ffill, zero or error.")


DUPLICATES_OPT = typer.Option(None, "--duplicates", help="Repeated timestamps in a series: error (default), or aggregate by mean, sum, last or first.")


SEP_OPT = typer.Option(None, "--sep", help="CSV field separator (default: ',', or ';', tab, '|' when the header shows one); 'tab' for a tab.")


HORIZON_OPT = typer.Option(None, "--horizon", help="Steps to forecast (default: one day for intraday data, else M4's horizon for the frequency).")


INPUT_SIZE_OPT = typer.Option(None, "--input-size", help="Steps the GRU reads (default: a week of intraday data, at least 2 x horizon).")


SEASON_OPT = typer.Option(None, "--season", help="Seasonal period for the baseline and MASE (inferred from datetimes; required for integer steps, 1 for none).")


FUTURE_COLS_OPT = typer.Option(None, "--future-cols", help="Covariate columns known ahead (comma-separated): read over the input window and the horizon; predict needs their values over the horizon.")


PAST_COLS_OPT = typer.Option(None, "--past-cols", help="Covariate columns observed with the target but unknown ahead (comma-separated): read over the input window only.")


STATIC_COLS_OPT = typer.Option(None, "--static-cols", help="Columns constant per series (comma-separated); text values are categories with learned embeddings.")


CALENDAR_OPT = typer.Option(None, "--calendar/--no-calendar", help="Cyclic calendar features (hour of day, day of week, ...) from datetime timestamps (default: on).")


MIN_INPUT_OPT = typer.Option(None, "--min-input", help="Observed steps a series needs in its input window when short series are padded (default: input_size // 4).")


VAL_SIZE_OPT = typer.Option(None, "--val-size", help="Last steps of every series held out for validation (default: one horizon).")


class LogFormat(str, Enum):
    text = "text"
    json = "json"


LOG_FILE_OPT = typer.Option(None, "--log-file", help="Append one line per event (start, data read, each validation check, outputs written, failure with its exit code) to this file: a text file, never a link, an input or an earlier output.")


LOG_FORMAT_OPT = typer.Option(LogFormat.text, "--log-format", help="text, or json: one JSON object per event (to --log-file, or to stderr in place of the usual lines).")


WAIT_OPT = typer.Option(False, "--wait", help="When another grucast run is writing the same output (it holds OUTPUT.lock), wait for it instead of exiting with 75.")


MANIFEST_OPT = typer.Option(True, "--manifest/--no-manifest", help="Write OUTPUT.manifest.json beside the output: command, versions, input and checkpoint sha256, origins, metrics, timings (default: on).")


def _data_overrides(data_format, time_col, id_col, target, fill, duplicates, sep, season,
                    future_cols=None, past_cols=None, static_cols=None, calendar=None) -> dict:
    return {
        "future_covariates": future_cols,
        "past_covariates": past_cols,
        "static_covariates": static_cols,
        "calendar": calendar,
        "format": data_format.value if data_format else None,
        "time_col": time_col,
        "id_col": id_col,
        "target": target,
        "fill": fill.value if fill else None,
        "duplicates": duplicates.value if duplicates else None,
        "sep": sep,
        "season": season,
    }


WINDOWS_OPT = typer.Option(None, "--windows", help="Forecast origins per series, the newest ending at the series' end (default: evaluate 1, backtest 3).")


STRIDE_OPT = typer.Option(None, "--stride", help="Steps between origins (default: one horizon, so windows do not overlap).")


FORECASTS_OUT_OPT = typer.Option(None, "-o", "--output", help="Write every window's forecasts, actuals and baselines here (CSV, .parquet or .json).")


METRICS_OUT_OPT = typer.Option(None, "--metrics", help="Write the metrics per series and pooled ('(all)') here (CSV, .parquet or .json).")
