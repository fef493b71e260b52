"""The flags of the commands. Settings flags (those that set a config field) come from the one
table in grucast.config.flags: @settings_flags(command) puts the command's share of them, and
--set where the command takes --config, in place of its `settings` parameter, and hands the
values over as one Settings. The options of a command's own (outputs, logs, locks) are here.

Precedence of settings: defaults < --config file < environment variables (GRUCAST_DEVICE,
GRUCAST_THREADS) < --set < flags.
"""

from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Optional

import typer

from grucast.config import flags
from grucast.config.flags import Flag


def _choices(f: Flag) -> type[Enum]:
    """A str Enum of a setting's choices (what typer needs to offer and check them)."""
    return Enum("".join(w.title() for w in f.key.split("_")), {c: c for c in f.type}, type=str)


CHOICES = {f.setting: _choices(f) for f in flags.table() if isinstance(f.type, tuple)}


def _setting_param(f: Flag) -> inspect.Parameter:
    kind = CHOICES.get(f.setting, f.type)
    option = typer.Option(None, f.name, help=f.help, envvar=f.envvar, show_envvar=f.envvar is not None)
    return inspect.Parameter(f.key, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=Optional[kind])


SET_OPT = typer.Option([], "--set", metavar="SECTION.KEY=VALUE",
                       help="Any setting, e.g. --set training.weight_decay=0.01 (the value read as YAML, text settings as typed); "
                            "repeatable. A flag wins over --set, --set over the environment and --config.")


@dataclass(frozen=True)
class Settings:
    """The settings one command line gives: flag values by config path (None where not given),
    the --set texts, and the settings whose value came from an environment variable."""

    values: dict[str, Any]
    sets: tuple[str, ...] = ()
    from_env: frozenset[str] = field(default_factory=frozenset)

    def __getitem__(self, setting: str) -> Any:
        return self.values.get(setting)

    def overrides(self) -> dict[str, dict[str, Any]]:
        """{section: {key: value}} for config.files.load, which lays them over the config file:
        the environment variables, --set over them, the flags over --set."""
        from grucast.config import files, validate

        env = {s: v for s, v in self.values.items() if s in self.from_env}
        typed = {s: v for s, v in self.values.items() if s not in self.from_env}
        return validate.merge(flags.overrides(env), files.parse_sets(self.sets), flags.overrides(typed))

    def typed(self) -> list[str]:
        """The settings given on the command line itself (flags and --set, not the environment),
        as messages name them."""
        from grucast.config import files

        named = [s for s, v in self.values.items() if v is not None and s not in self.from_env]
        named += [f"{section}.{key}" for section, keys in files.parse_sets(self.sets).items() for key in keys]
        return [flags.label(s) for s in dict.fromkeys(named)]


SETTINGS: Any = None  # the default of a command's `settings` parameter: @settings_flags replaces it


def settings_flags(command: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The settings flags of `command` (grucast.config.flags.table), and --set when it takes
    --config, as options in place of the function's `settings` parameter, which receives them
    as one Settings. Typer reads the options from the function's signature, so the wrapper gets
    one made here (every parameter keyword-only, annotations resolved)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(fn)
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation))
               for p in inspect.signature(fn).parameters.values()]
        table = flags.for_command(command)
        added = [_setting_param(f) for f in table]
        if any(p.name == "config" for p in own):
            added.append(inspect.Parameter("sets", inspect.Parameter.KEYWORD_ONLY, default=SET_OPT, annotation=list[str]))
        added.append(inspect.Parameter("settings_context", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))
        clash = {p.name for p in own} & {p.name for p in added}
        if clash:
            raise TypeError(f"{fn.__name__}: parameters {sorted(clash)} clash with the settings flags")
        at = [p.name for p in own].index("settings")
        params = own[:at] + added + own[at + 1:]

        @functools.wraps(fn)
        def run(**kw: Any) -> Any:
            ctx = kw.pop("settings_context")
            values = {f.setting: _plain(kw.pop(f.key)) for f in table}
            env = frozenset(f.setting for f in table if values[f.setting] is not None
                            and getattr(ctx.get_parameter_source(f.key), "name", "") == "ENVIRONMENT")
            sets = tuple(kw.pop("sets", None) or ())
            return fn(**kw, settings=Settings(values, sets, env))

        run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        return run

    return wrap


def _plain(value: Any) -> Any:
    """A choice as its text: the config holds 'mae', not Loss.mae."""
    return value.value if isinstance(value, Enum) else value


# ---------------------------------------------------------------- options of the commands' own

CONFIG_OPT = typer.Option(None, "--config", help="YAML file with data/model/training sections; --set and flags win.")


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


class LogFormat(str, Enum):
    text = "text"
    json = "json"


LOG_FILE_OPT = typer.Option(None, "--log-file", envvar="GRUCAST_LOG_FILE", show_envvar=True, help="Append one line per event (start, data read, each validation check, outputs written, failure with its exit code) to this file: a text file, never a link, an input or an earlier output.")


LOG_FORMAT_OPT = typer.Option(LogFormat.text, "--log-format", envvar="GRUCAST_LOG_FORMAT", show_envvar=True, help="text, or json: one JSON object per event (to --log-file, or to stderr in place of the usual lines).")


WAIT_OPT = typer.Option(False, "--wait", help="When another grucast run is writing the same output (it holds OUTPUT.lock), wait for it instead of exiting with 75.")


MANIFEST_OPT = typer.Option(True, "--manifest/--no-manifest", help="Write OUTPUT.manifest.json beside the output: command, versions, input and checkpoint sha256, origins, metrics, timings (default: on).")


QUIET_OPT = typer.Option(False, "-q", "--quiet", help="Print nothing on success but the results asked for (--json, a forecast or report with no output file); warnings and errors still go to stderr.")


WINDOWS_OPT = typer.Option(None, "--windows", help="Forecast origins per series, the newest ending at the series' end (default: evaluate 1, backtest 3).")


STRIDE_OPT = typer.Option(None, "--stride", help="Steps between origins (default: one horizon, so windows do not overlap).")


FORECASTS_OUT_OPT = typer.Option(None, "-o", "--output", help="Write every window's forecasts, actuals and baselines here (CSV, .parquet or .json), or as CSV to stdout with -o -.")


METRICS_OUT_OPT = typer.Option(None, "--metrics", help="Write the metrics per series and pooled ('(all)') here (CSV, .parquet or .json).")


MODEL_ARG = typer.Argument(..., metavar="MODEL", help="Checkpoint written by grucast train ('-': read it from stdin).")
