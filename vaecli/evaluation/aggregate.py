"""`vae compare --aggregate`: runs that differ only in train.seed collapse into one row.

Each group row holds, for every numeric column, the mean over its runs under the column's
own name, the sample standard deviation (n - 1 in the denominator; None for one run)
under `<column>_sd` and the 95% t-interval of the mean under `<column>_ci_low` and
`<column>_ci_high` (vaecli.evaluation.statistics; None for one run), plus `n` (the number of
runs) and `runs` (their names). group_tests gives, for two named groups, the Welch t-test
p-value of every numeric column. A text column
keeps its value when every run agrees and lists the distinct values otherwise. Groups keep
the order of their first run.
"""

from __future__ import annotations

import math
import re
from typing import Any

SEED_KEY = "train.seed"
SD_SUFFIX = "_sd"
CI_SUFFIXES = ("_ci_low", "_ci_high")  # the 95% t-interval of the mean over seeds


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def mean_and_sd(values: list[float]) -> tuple[float, float | None]:
    """(mean, sample standard deviation); the sd is None for a single value."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((value - mean) ** 2 for value in values) / (len(values) - 1))


def group_name(names: list[str]) -> str:
    """The runs' common name without its seed ('study_free_bits=0.1_seed=2' -> 'study_free_bits=0.1')."""
    stripped = {re.sub(r"_?seed=\d+", "", name) for name in names}
    if len(stripped) == 1 and stripped != {""}:
        return stripped.pop()
    return f"{names[0]} (+{len(names) - 1})" if len(names) > 1 else names[0]


def _column(values: list[Any], column: str) -> dict[str, Any]:
    present = [value for value in values if value is not None]
    if present and all(_is_number(value) for value in present):
        from vaecli.evaluation.statistics import summarize

        summary = summarize([float(value) for value in present])
        low, high = CI_SUFFIXES
        return {
            column: summary.mean,
            column + SD_SUFFIX: summary.sd,
            column + low: summary.low,
            column + high: summary.high,
        }
    distinct = list(dict.fromkeys(str(value) for value in present))
    return {column: present[0] if len(distinct) == 1 else ("; ".join(distinct) or None)}


def aggregate_group(rows: list[dict], key_columns: list[str]) -> dict:
    """One row for runs that share every config value but train.seed."""
    names = [row["run"] for row in rows]
    group = {"run": group_name(names), "n": len(rows), "runs": ", ".join(names)}
    group.update({key: rows[0].get(key) for key in key_columns})
    skip = {"run", SEED_KEY, *key_columns}
    for column in dict.fromkeys(key for row in rows for key in row):
        if column not in skip:
            group.update(_column([row.get(column) for row in rows], column))
    return group


def aggregate_rows(rows: list[dict], differing: list[str]) -> tuple[list[dict], list[str]]:
    """(group rows, the config keys that still differ between groups)."""
    key_columns = [key for key in differing if key != SEED_KEY]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(repr(row.get(key)) for key in key_columns), []).append(row)
    return [aggregate_group(members, key_columns) for members in groups.values()], key_columns


def group_tests(rows: list[dict], groups: list[dict], first: str, second: str) -> list[dict]:
    """Welch t-test of every numeric column between two groups of seeds, named as in the group rows.

    rows: the per-run rows; groups: the rows of aggregate_rows (their `runs` name the members).
    Returns one dict per column: column, mean of each group, difference (second - first), p_value
    (None where the test is undefined: a group of one run, or no spread in either).
    """
    from vaecli.errors import CompareError
    from vaecli.evaluation.statistics import welch_p_value

    by_name = {group["run"]: group for group in groups}
    for name in (first, second):
        if name not in by_name:
            raise CompareError(f"group {name!r} is not among the compared groups ({', '.join(by_name)})")
    members = {name: set(by_name[name]["runs"].split(", ")) for name in (first, second)}
    chosen = {name: [row for row in rows if row["run"] in members[name]] for name in (first, second)}
    tests = []
    for column in dict.fromkeys(key for row in rows for key in row):
        numbers = {
            name: [float(row[column]) for row in chosen[name] if _is_number(row.get(column))]
            for name in (first, second)
        }
        if not numbers[first] or not numbers[second] or column == SEED_KEY:
            continue
        mean_first = sum(numbers[first]) / len(numbers[first])
        mean_second = sum(numbers[second]) / len(numbers[second])
        tests.append(
            {
                "column": column,
                first: mean_first,
                second: mean_second,
                "difference": mean_second - mean_first,
                "p_value": welch_p_value(numbers[first], numbers[second]),
            }
        )
    return tests
