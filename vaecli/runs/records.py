"""The run's per-epoch metrics (metrics.jsonl / .csv) and its evaluations (evaluation.json, evaluation/*.json)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from vaecli.errors import RunError
from vaecli.io.atomic import write_text_atomic
from vaecli.runs.paths import RunPaths


def read_metrics(paths: RunPaths) -> list[dict]:
    """The rows of metrics.jsonl, one per finished epoch ([] before the first); RunError for a damaged file."""
    if not paths.metrics_jsonl.exists():
        return []
    rows = []
    try:
        lines = paths.metrics_jsonl.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise RunError(f"{paths.metrics_jsonl}: cannot read it ({error})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
            raise RunError(f"{paths.metrics_jsonl}: line {number} is not a metrics row (an epoch's JSON object)")
        rows.append(row)
    return rows


def write_metrics(paths: RunPaths, rows: list[dict]) -> None:
    """Rewrite metrics.jsonl and metrics.csv whole (tiny files; atomic rename keeps them consistent)."""
    write_text_atomic(paths.metrics_jsonl, "".join(json.dumps(row) + "\n" for row in rows))
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_text_atomic(paths.metrics_csv, buffer.getvalue())


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def evaluation_space(evaluation: dict | None) -> str | None:
    """The feature space an evaluation's plausibility numbers were measured in."""
    try:
        return (evaluation or {})["plausibility"]["feature_space"]["name"]
    except (KeyError, TypeError):
        return None


def read_evaluation(paths: RunPaths, space: str | None = None) -> dict | None:
    """The run's latest evaluation (space None) or its evaluation in one feature space; None when absent.

    Runs evaluated before per-space files existed hold only evaluation.json: it answers for its own space.
    """
    if space is None:
        return _read_json(paths.evaluation)
    found = _read_json(paths.evaluation_in(space))
    if found is None:
        latest = _read_json(paths.evaluation)
        found = latest if evaluation_space(latest) == space else None
    return found


def evaluated_spaces(paths: RunPaths) -> list[str]:
    """The feature spaces the run has an evaluation in (sorted)."""
    spaces = {path.stem for path in paths.evaluation_images.glob("*.json")}
    latest = evaluation_space(_read_json(paths.evaluation))
    return sorted(spaces | ({latest} if latest else set()))
