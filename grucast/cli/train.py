"""`grucast train`: read a file, train, publish the checkpoint with its manifest, print metrics."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Optional

import typer

from grucast.cli.app import app, setup_logging
from grucast.cli.options import (
    CONFIG_OPT,
    LOG_FILE_OPT,
    LOG_FORMAT_OPT,
    MANIFEST_OPT,
    QUIET_OPT,
    SETTINGS,
    WAIT_OPT,
    LogFormat,
    Settings,
    settings_flags,
)
from grucast.cli.running import Shown, Stdin, log_broken, rank, rank_zero, user_errors, world_size


@app.command()
@settings_flags("train")
def train(
    data: Path = typer.Argument(..., metavar="DATA", help="CSV or Parquet file, or a folder of Parquet files (a dataset): long (id, time, target), single series, or wide; '-' reads it from stdin."),
    output: Path = typer.Option(..., "-o", "--output", help="Checkpoint file to write (atomically)."),
    config: Optional[Path] = CONFIG_OPT,
    settings: Settings = SETTINGS,  # every settings flag of train (grucast.config.flags), and --set
    init_from: Optional[Path] = typer.Option(None, "--init-from", metavar="MODEL", help="Fine-tune: start from this checkpoint's weights, data schema and model settings, on new data of the same shape (training settings come from the flags)."),
    resume: Optional[Path] = typer.Option(None, "--resume", metavar="MODEL.resume", help="Continue an interrupted run (SIGINT/SIGTERM save it to OUTPUT.resume) on the same DATA, step for step; its settings are the saved ones."),
    fail_if_worse_than: Optional[str] = typer.Option(None, "--fail-if-worse-than", metavar="BASELINE", help="Quality gate: naive or seasonal-naive. When the new model's validation MASE is worse than the baseline's, exit 5 and keep the previous checkpoint."),
    wait: bool = WAIT_OPT,
    manifest: bool = MANIFEST_OPT,
    log_file: Optional[Path] = LOG_FILE_OPT,
    log_format: LogFormat = LOG_FORMAT_OPT,
    json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON document on stdout."),
    quiet: bool = QUIET_OPT,
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Print the resolved config and debug logs."),
    nproc: int = typer.Option(1, "--nproc", min=1, metavar="N", help="Train with N processes on this machine, started by torch's elastic launcher (as torchrun --standalone --nproc-per-node N does); grucast's exit codes are kept (the first failing rank's; 143 after SIGTERM)."),
    shard_data: bool = typer.Option(False, "--shard-data", help="With several processes (torchrun, --nproc): each reads only the rows of its shard of the series (a long CSV or Parquet file or Parquet folder, by the --shard rule; of Parquet only the row groups holding them), then the processes share the compact panel; the model is the one they train without it."),
) -> None:
    """Train a global GRU forecaster on every series of DATA and save it to -o MODEL.

    Default budget: at most 5000 optimizer steps of 256 windows (no cap on epochs unless
    --epochs sets one), validating at the end of every epoch and every 200 steps, and stopping
    early after 5 checks without improvement; the best weights are kept. This trains M4 Hourly (414 series,
    245,000 windows per epoch) in about 5 minutes on 2 CPU cores (13 with --kernel reference).
    """
    setup_logging(verbose)
    launching = nproc > 1 and "RANK" not in os.environ  # --nproc: this process starts the ranks
    stdin = Stdin()
    argument = str(data)
    if not rank_zero():  # under torchrun: rank 0 locks, logs, prints and writes; the others train
        quiet, json_out, log_file, log_format, wait = True, False, None, LogFormat.text, False

    def preflight() -> None:
        from grucast.ops import paths

        nonlocal data, config
        if launching and "-" in (str(data), str(config)):
            from grucast.errors import ConfigError

            raise ConfigError(f"--nproc {nproc} starts {nproc} processes that each read DATA and --config: give files, "
                              "not '-' (stdin)")
        data, config = stdin.take(data, "DATA"), stdin.take(config, "--config")
        paths.run_paths(data=data, config=config, init_from=init_from, resume=resume, output=output,
                        log_file=log_file, train=True)

    def sniff() -> None:
        from grucast.ops import preflight as ops_preflight

        ops_preflight.sniff_data(data)
        ops_preflight.sniff_checkpoint(init_from, "--init-from")
        ops_preflight.sniff_checkpoint(resume, "--resume")

    with user_errors("train", log_file, log_format, preflight, sniff, stdin) as log, ExitStack() as held:
        from grucast.config import files

        if launching:  # the paths, the data's first bytes and the settings were checked once, here
            raise typer.Exit(code=_launch(nproc, files.load(config, settings.overrides())))
        log.emit("started", argv=sys.argv[1:], data=argument, output=str(output))
        cfg = files.load(config, settings.overrides())  # settings and the data fail before torch is imported
        from grucast.ops import locks

        if rank_zero():
            held.enter_context(locks.lock(output, wait))  # a second run exits 75 before the heavy imports
        table = None
        part = (rank() + 1, world_size()) if shard_data and world_size() > 1 else None
        if init_from is None and resume is None:  # those read DATA with the checkpoint's columns
            from grucast.data.table import load_table

            table = load_table(data, cfg.data, shard=part)
        from grucast import api
        from grucast.ops import events, signals
        from grucast.ops import manifest as ops_manifest

        show = _Show(log.stream is None, quiet, verbose, json_out, stdin)
        show.ignored(settings, init_from, resume)

        def described(result, identity):
            return stdin.plain(ops_manifest.train_manifest(result, identity))

        from grucast.cli import render

        display = render.TrainDisplay(show.err, quiet=not show.chatty)
        try:
            with signals.stop_on_signals() as stop:
                result = api.train(data, output, cfg, callback=events.EvalEvents(log, display), on_ready=show.ready(log),
                                   fail_if_worse_than=fail_if_worse_than, init_from=init_from, resume_from=resume,
                                   stop=stop, manifest=described if manifest else None,
                                   before_publish=show.result, table=table, shard=part)
        finally:
            display.close()
        log.emit("finished", checkpoint=str(output), metrics=result.metrics, quality_gate=result.gate,
                 seconds=result.seconds, exit_code=0)
        log_broken(log, show.err, not show.human)
        show.shown.flush()


def _launch(nproc: int, cfg) -> int:
    """--nproc: this command again as nproc ranks (training.distributed.launch), its exit code;
    what every rank would refuse alike (too many processes, a batch they cannot share) is refused
    here once, before any starts."""
    from grucast.config.machine import usable_cpus
    from grucast.errors import ConfigError
    from grucast.training import distributed

    cores = usable_cpus()
    if nproc > cores:
        raise ConfigError(f"--nproc {nproc} asks for more processes than the {cores} CPU cores this process may use")
    distributed.check_batch(cfg.training.batch_size, distributed.World(size=nproc))
    argv = sys.argv[sys.argv.index("train") + 1:] if "train" in sys.argv else []
    return distributed.launch(nproc, ["train", *distributed.without_nproc(argv)])


class _Show:
    """What train shows. human: lines for people on stderr at all (not with --log-format json
    and no --log-file, where the event log is stderr); chatty: progress and what was detected
    (not with -q); warnings whenever human; results on stdout: --json, or the metrics report
    unless -q."""

    def __init__(self, human: bool, quiet: bool, verbose: bool, json_out: bool, stdin: Stdin):
        from grucast.cli import render

        self.err = render.stderr_console()
        self.human, self.chatty, self.verbose, self.json_out = human, human and not quiet, verbose, json_out
        self.report = not quiet
        self.shown = Shown(stdin)
        self.stdin = stdin
        self.notes: list[str] = []

    def ignored(self, settings: Settings, init_from: Optional[Path], resume: Optional[Path]) -> None:
        """The starting checkpoint fixes the network and the data layout (--resume: everything):
        settings given that would change them are named once that checkpoint has been read."""
        if init_from is None and resume is None:
            return
        fixed = ("data.", "model.", "training.") if resume else ("data.", "model.")
        named = [s for s in settings.typed() if s.startswith(fixed)]
        if named:
            self.notes.append(f"{'--resume' if resume else '--init-from'} keeps the settings of {resume or init_from}; "
                              f"ignored: {', '.join(named)}")

    def ready(self, log):
        from grucast.cli import render

        def on_ready(summary, resolved, notes):
            log.emit("data_read", series=summary.n_series, points=summary.n_points, warnings=summary.warnings,
                     defaults_chosen=notes)
            if self.chatty:
                for line in render.data_lines(summary, resolved.data.fill):
                    self.err.print(self.stdin.named(line))
            if self.human:
                for line in [*self.notes, *summary.warnings]:
                    render.warning(self.err, self.stdin.named(line))
            if self.chatty and notes:
                self.err.print(render.clean("Chose " + ", ".join(notes)))
            if self.verbose:
                import yaml

                self.err.print("Resolved config:\n" + yaml.safe_dump(resolved.to_dict(), sort_keys=False).rstrip())

        return on_ready

    def result(self, result) -> None:
        """before_publish: the quality gate's verdict, short series, then the result itself."""
        from grucast.cli import render
        from grucast.errors import preview

        if result.gate and self.chatty:
            self.shown.line(self.err, result.gate[0].upper() + result.gate[1:])
        if result.short_series and self.chatty:
            c = result.config
            self.shown.line(self.err,
                f"{len(result.short_series)} series too short for a training window (fewer than "
                f"{(c.model.min_input or c.model.input_size) + c.model.horizon + c.training.val_size} points): "
                f"{preview(result.short_series)}"
            )
        if self.json_out:
            self.shown.json(result.to_dict())
        elif self.report:
            self.shown.add(render.stdout_console(), lambda out: render.train_summary(result, out))
        elif self.human:
            for line in render.train_warnings(result):
                self.shown.add(self.err, lambda c, line=line: render.warning(c, line))
