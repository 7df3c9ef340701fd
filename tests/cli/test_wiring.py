"""Every command's wiring, fast (no training, no TensorFlow): the public API the CLI calls is replaced by a
recorder, and each command line must reach it with the values its flags say."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import vae
from vaecli.errors import VaeError


class Wired(VaeError):
    """Raised by the recorder once it has the call: the CLI prints it and exits 3; nothing else runs."""

    exit_code = 3


@pytest.fixture
def calls(monkeypatch) -> list[tuple[str, tuple, dict]]:
    recorded: list[tuple[str, tuple, dict]] = []

    def recorder(name: str):
        def call(*args, **kwargs):
            recorded.append((name, args, kwargs))
            raise Wired(f"wired: {name}")

        return call

    class FakeRun:
        z_dim = 4

        def __init__(self, run=None, runs_dir="runs"):
            recorded.append(("load_run", (run, runs_dir), {}))

        def require_models(self):
            return self

        def __getattr__(self, name):
            return recorder(f"run.{name}")

    targets = {
        "vaecli.api.load_run": FakeRun,
        "vaecli.api.train": recorder("train"),
        "vaecli.evaluation.compare.compare": recorder("compare"),
        "vaecli.evaluation.report.write_report": recorder("write_report"),
        "vaecli.runs.resolve_run": lambda run=None, runs_dir="runs": run,
        "vaecli.evaluation.factors.factors": recorder("factors"),
        "vaecli.evaluation.assays.assay": recorder("assay"),
        "vaecli.sweeps.sweep": recorder("sweep"),
        "vaecli.sweeps.sweep_status": recorder("sweep_status"),
        "vaecli.runs.doctor.diagnose": recorder("diagnose"),
        "vaecli.runs.clean.clean": recorder("clean"),
        "vaecli.config.load_config": recorder("load_config"),
        "vaecli.latent.densities.fit_density": recorder("fit_density"),
    }
    for target, replacement in targets.items():
        monkeypatch.setattr(target, replacement)
    return recorded


CASES = {
    "train": (
        ["train", "c.yaml", "--set", "loss.kl_factor=1e-3", "--name", "n", "--runs-dir", "R", "-q"],
        "train",
        lambda args, kwargs: (
            args == (Path("c.yaml"),)
            and kwargs["overrides"] == ["loss.kl_factor=1e-3"]
            and kwargs["name"] == "n"
            and kwargs["runs_dir"] == Path("R")
            and kwargs["quiet"] is True
        ),
    ),
    "train --resume": (
        ["train", "--resume", "R/x", "--from-checkpoint", "3"],
        "train",
        lambda args, kwargs: kwargs["resume"] == Path("R/x") and kwargs["from_checkpoint"] == 3,
    ),
    "encode": (
        ["encode", "x", "--split", "validation", "--limit", "5", "--sample", "--seed", "2", "--out", "z.h5"],
        "run.encode_split",
        lambda args, kwargs: (
            args == ("validation",)
            and (kwargs["limit"], kwargs["sample"], kwargs["seed"], kwargs["out"]) == (5, True, 2, Path("z.h5"))
        ),
    ),
    "decode": (
        ["decode", "x", "f.npy", "--limit", "7", "--columns", "3", "--array-out", "a.npy"],
        "run.decode_file",
        lambda args, kwargs: (
            Path(args[0]) == Path("f.npy")
            and (kwargs["limit"], kwargs["columns"], kwargs["array_out"]) == (7, 3, Path("a.npy"))
        ),
    ),
    "sample": (
        ["sample", "--run", "x", "--boundary", "10", "-n", "16", "--seed", "4"],
        "run.sample",
        lambda args, kwargs: kwargs["box"] == [10.0] and kwargs["n"] == 16 and kwargs["seed"] == 4,
    ),
    "sample --density": (
        ["sample", "--run", "x", "--density", "gmm10", "-n", "8"],
        "run.sample",
        lambda args, kwargs: kwargs["density"] == "gmm10" and kwargs["n"] == 8,
    ),
    "fit-density": (
        ["fit-density", "x", "--kind", "gmm", "--components", "3", "--name", "g3", "--limit", "500"],
        "fit_density",
        lambda args, kwargs: (
            (kwargs["kind"], kwargs["components"], kwargs["name"], kwargs["limit"]) == ("gmm", 3, "g3", 500)
        ),
    ),
    "interpolate": (
        ["interpolate", "x", "--from", "1", "--to", "2", "--steps", "5", "--method", "slerp"],
        "run.interpolate",
        lambda args, kwargs: args == ("1", "2") and (kwargs["steps"], kwargs["method"]) == (5, "slerp"),
    ),
    "traverse": (
        ["traverse", "x", "--index", "3", "--dims", "0,1", "--range", "-2:2"],
        "run.traverse",
        lambda args, kwargs: args == (3,) and kwargs["dims"] == "0,1" and kwargs["value_range"] == (-2.0, 2.0),
    ),
    "latent-stats": (
        ["latent-stats", "x", "--boundary", "1,2", "--limit", "9"],
        "run.latent_stats",
        lambda args, kwargs: kwargs["boundaries"] == [1.0, 2.0] and kwargs["limit"] == 9,
    ),
    "evaluate": (
        ["evaluate", "x", "--iw-samples", "4", "--n-samples", "50", "--features", "pixels", "--density", "g3"],
        "run.evaluate",
        lambda args, kwargs: (
            (kwargs["iw_samples"], kwargs["n_samples"], kwargs["features"]) == (4, 50, "pixels")
            and list(kwargs["densities"]) == ["g3"]
        ),
    ),
    "compare": (
        ["compare", "a", "b", "--aggregate"],
        "compare",
        lambda args, kwargs: list(map(str, args[0])) == ["a", "b"] and True in args[1:],
    ),
    "report": (["report", "x"], "write_report", lambda args, kwargs: True),
    "factors": (
        ["factors", "x", "--limit", "100", "--seed", "1"],
        "factors",
        lambda args, kwargs: (kwargs["limit"], kwargs["seed"]) == (100, 1),
    ),
    "assay": (["assay", "x", "--dims", "0,1"], "assay", lambda args, kwargs: tuple(kwargs["dims"]) == (0, 1)),
    "sweep": (
        ["sweep", "c.yaml", "--set", "loss.kl_factor=1,2", "--jobs", "2"],
        "sweep",
        lambda args, kwargs: kwargs["jobs"] == 2 and "loss.kl_factor=1,2" in args[1],
    ),
    "sweep-status": (["sweep-status", "grid"], "sweep_status", lambda args, kwargs: "grid" in args),
    "doctor": (["doctor", "x"], "diagnose", lambda args, kwargs: True),
    "clean": (["clean", "d", "--dry-run"], "clean", lambda args, kwargs: kwargs["dry_run"] is True),
    "config show": (["config", "show", "c.yaml", "--set", "seed=3"], "load_config", lambda a, k: "seed=3" in str(a)),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_each_command_reaches_the_api_with_its_values(calls, case):
    argv, name, check = CASES[case]
    result = vae(*argv)
    assert result.exit_code == 3, result.output  # the recorder was reached (not a parse error, not a crash)
    reached = [call for call in calls if call[0] == name]
    assert reached, calls
    _, args, kwargs = reached[-1]
    assert check(args, kwargs), (args, kwargs)
