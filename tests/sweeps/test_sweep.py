"""scripts/sweep_kl.sh with a stand-in `vae` on PATH: one run per value, named after it, finished runs skipped."""

import json
import os
import subprocess

from tests.helpers import ROOT

FAKE_VAE = """#!/usr/bin/env bash
echo "$@" >> "$CALLS"
"""


def test_sweep_names_runs_after_values_skips_completed_and_resumes_the_rest(tmp_path):
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "vae"
    fake.write_text(FAKE_VAE)
    fake.chmod(0o755)
    runs = tmp_path / "runs"
    for name, status in (("quickstart_kl1e-2", "COMPLETED"), ("quickstart_kl1e-3", "KILLED")):
        (runs / name).mkdir(parents=True)
        (runs / name / "manifest.json").write_text(json.dumps({"status": status}, indent=2))
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "CALLS": str(tmp_path / "calls"),
        "RUNS_DIR": str(runs),
    }
    result = subprocess.run(
        [
            str(ROOT / "scripts" / "sweep_kl.sh"),
            "configs/quickstart.yaml",
            "1",
            "1e-2",
            "1e-3",
            "--",
            "--set",
            "train.epochs=2",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == [
        (
            f"train configs/quickstart.yaml --set loss.kl_factor=1 --name quickstart_kl1 --runs-dir {runs} "
            f"--set train.epochs=2"
        ),
        f"train --resume {runs}/quickstart_kl1e-3",
    ]
    assert "quickstart_kl1e-2: COMPLETED, skipped" in result.stdout
