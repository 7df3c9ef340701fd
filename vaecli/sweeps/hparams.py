"""A sweep in TensorBoard's HParams dashboard: `tensorboard --logdir runs/sweeps/NAME/tensorboard`.

    runs/sweeps/NAME/tensorboard/              the experiment: which keys were swept, which metrics exist
    runs/sweeps/NAME/tensorboard/<run name>/   one session per grid point: its values and its final metrics

Written with TensorBoard's own protocol buffers and event-file writer (no TensorFlow op runs), anew
at the end of each local sweep from the runs' own files, so it shows every point that has finished,
also those an earlier sweep of the same name trained. Metrics: the last epoch's losses (nats per
image) and, once `vae evaluate` ran, the likelihood bounds.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any

from vaecli.runs import RunPaths, read_evaluation, read_manifest
from vaecli.runs.paths import sweep_tensorboard_path
from vaecli.sweeps.plan import SweepPlan

LOSS_METRICS = ("loss", "val_loss", "reconstruction_loss", "val_reconstruction_loss", "kl_loss", "val_kl_loss")
EVALUATION_METRICS = ("elbo_nats", "iwae_nats", "bits_per_dim")  # keys of evaluation.json's "likelihood"


def run_metrics(paths: RunPaths) -> dict[str, float]:
    """The final numbers of one run, as HParams metrics (tag -> value); {} before its first epoch."""
    if not paths.manifest.is_file():
        return {}
    final = read_manifest(paths).final_metrics or {}
    metrics = {f"final/{key}": float(final[key]) for key in LOSS_METRICS if _is_number(final.get(key))}
    likelihood = (read_evaluation(paths) or {}).get("likelihood") or {}
    metrics.update(
        {f"evaluation/{key}": float(likelihood[key]) for key in EVALUATION_METRICS if _is_number(likelihood.get(key))}
    )
    return metrics


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _hparam_value(value: Any) -> Any:
    """Numbers, text and booleans as they are; anything else (a list: a conv stack) as its text."""
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def write_hparams(plan: SweepPlan, runs_dir: Path) -> Path:
    """Rewrite runs/sweeps/NAME/tensorboard/ for TensorBoard from the plan and the runs' files; returns the folder."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.hparams import summary_v2 as hp
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    folder = sweep_tensorboard_path(runs_dir, plan.name)
    shutil.rmtree(folder, ignore_errors=True)
    sessions = {point.name: run_metrics(RunPaths(Path(runs_dir) / point.name)) for point in plan.points}
    keys = sorted({key for point in plan.points for key in point.values})
    tags = sorted({tag for metrics in sessions.values() for tag in metrics})

    def write(logdir: Path, summaries: list) -> None:
        writer = EventFileWriter(str(logdir))
        for step, summary in enumerate(summaries):
            writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))
        writer.close()

    experiment = hp.hparams_config_pb([hp.HParam(key) for key in keys], [hp.Metric(tag) for tag in tags])
    write(folder, [experiment])
    for point in plan.points:
        metrics = sessions[point.name]
        if not metrics:
            continue  # not trained yet: no session, so the table shows only finished points
        values = {key: _hparam_value(value) for key, value in point.values.items()}
        session = hp.hparams_pb(values, trial_id=point.name)
        session.value.extend(_scalar(tag, value) for tag, value in metrics.items())
        write(folder / point.name, [session])
    return folder


def _scalar(tag: str, value: float) -> Any:
    from tensorboard.compat.proto import summary_pb2

    return summary_pb2.Summary.Value(tag=tag, simple_value=value)
