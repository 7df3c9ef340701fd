"""The public Python API: importing it is light, and the example of docs/python-api.md runs as written."""

import os
import re
import subprocess
import sys

import pytest

from tests.helpers import ROOT


def readme_api_example() -> str:
    """The first ```python block of the "Example" section of the Python API page (docs/python-api.md)."""
    section = ROOT.joinpath("docs/python-api.md").read_text().split("\n## Example\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_importing_vaecli_and_its_api_loads_no_tensorflow():
    code = (
        "import sys, vaecli, vaecli.api, vaecli.runs.run, vaecli.sweeps, vaecli.evaluation.compare; "
        "vaecli.train, vaecli.load_run, vaecli.compare, vaecli.sweep, vaecli.Run; "
        "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_every_public_name_has_a_docstring_with_an_example():
    import vaecli
    from vaecli.api import Run

    for name in ("train", "load_run", "compare", "sweep", "Run"):
        assert "Example" in (getattr(vaecli, name).__doc__ or ""), name
    methods = [name for name in dir(Run) if not name.startswith("_") and callable(getattr(Run, name))]
    assert {"encode", "decode", "sample", "interpolate", "traverse", "latent_stats", "evaluate"} <= set(methods)
    assert [name for name in methods if "Example" not in (getattr(Run, name).__doc__ or "")] == []


def test_user_errors_raise_the_errors_the_cli_prints(tmp_path):
    import vaecli

    with pytest.raises(vaecli.RunError, match="does not exist; train one"):
        vaecli.load_run(runs_dir=tmp_path)
    with pytest.raises(vaecli.ConfigError, match="config file not found"):
        vaecli.train(tmp_path / "missing.yaml", runs_dir=tmp_path)


@pytest.mark.slow
def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch):
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(readme_api_example(), "docs/python-api.md (Example)", "exec"), namespace)  # noqa: S102

    run, points, images = namespace["run"], namespace["points"], namespace["images"]
    assert run.manifest.status == "COMPLETED" and len(run.metrics) == 2
    assert points.shape == (64, 32) and images.shape == (64, 32, 32, 3) and 0 <= images.min() <= images.max() <= 1
    z, decoded = namespace["z"], namespace["decoded"]
    assert z.shape == (16, 32) and decoded.shape == (16, 32, 32, 3)
    assert namespace["walk"].path.shape == (10, 32) and namespace["traversal"].images.shape == (8, 9, 32, 32, 3)
    assert namespace["stats"].statistics["z_dim"] == 32 and (tmp_path / "runs/nb/latent_stats/stats.json").is_file()
    assert namespace["result"].evaluation["likelihood"]["elbo_nats"] < 0
    names = [row["run"] for row in namespace["table"].rows]
    assert names == ["nb", "nbsweep_kl_factor=0.1", "nbsweep_kl_factor=1"]
    assert os.path.isfile("runs/sweeps/nbsweep.json")
