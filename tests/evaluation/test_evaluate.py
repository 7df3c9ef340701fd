"""End-to-end measuring commands on real tiny runs: evaluate, compare, sweep, report."""

import base64
import csv
import json
import math
from html.parser import HTMLParser

import pytest
import yaml

from tests.helpers import ok, tiny_config, vae

pytestmark = pytest.mark.slow

EVALUATE_FAST = ["--iw-samples", "8", "--n-samples", "30", "--box", "1,10"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A runs folder with a tiny VAE and a tiny AE, and a private feature cache."""
    root = tmp_path_factory.mktemp("measure")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VAECLI_CACHE", str(root / "cache"))
        patch.setenv("KERAS_HOME", str(root / "keras_home"))  # no InceptionV3 weights here
        runs = root / "runs"
        for name, kind in (("tiny", "vae"), ("tiny_ae", "ae")):
            config = root / f"{name}.yaml"
            config.write_text(yaml.safe_dump(tiny_config(name=name, model={"kind": kind}, train={"epochs": 4})))
            ok("train", config, "--runs-dir", runs, "--quiet")
        yield root, runs


def test_evaluate_vae_writes_every_number_in_a_named_feature_space(workspace):
    root, runs = workspace
    output = ok("evaluate", "tiny", "--runs-dir", runs, *EVALUATE_FAST)
    assert "Training the feature classifier" in output and "classifier" in output
    evaluation = json.loads((runs / "tiny" / "evaluation.json").read_text())
    likelihood = evaluation["likelihood"]
    assert likelihood["applicable"] and likelihood["iw_samples"] == 8
    assert likelihood["iwae_nats"] >= likelihood["elbo_nats"]
    assert likelihood["elbo_bits_per_dim"] == pytest.approx(-likelihood["elbo_nats"] / (16 * 16 * 3 * math.log(2)))
    assert likelihood["elbo_nats"] == pytest.approx(
        -(likelihood["expected_reconstruction_nats"] + likelihood["kl_nats"])
    )
    # The test ELBO matches the validation loss training logged (kl_factor 1): same model, similar images.
    last = json.loads((runs / "tiny" / "metrics.jsonl").read_text().splitlines()[-1])
    assert -likelihood["elbo_nats"] == pytest.approx(last["val_loss"], rel=0.05)
    assert likelihood["reconstruction"]["bce_nats"] < likelihood["expected_reconstruction_nats"] + 1.0
    space = evaluation["plausibility"]["feature_space"]
    assert space["name"] == "classifier" and "hair_colour" in space["test_accuracy"]
    assert space["test_accuracy"]["hair_colour"] > 0.3  # 5 classes: better than chance (0.2)
    rows = {row["label"]: row for row in evaluation["plausibility"]["rows"]}
    assert list(rows) == ["real images (held out)", "reconstructions (held out)", "prior", "box B=1", "box B=10"]
    assert evaluation["plausibility"]["num_real"] == 30 and rows["prior"]["num_points"] == 30
    assert likelihood["decoder"] == "bernoulli" and "bernoulli" not in likelihood
    for row in rows.values():
        assert 0.0 <= row["precision"] <= 1.0 and 0.0 <= row["recall"] <= 1.0 and row["frechet_distance"] >= 0
    # Held-out real images are the closest set to the real reference; points in the box 0 < z_i < 10
    # are far outside a 4-d VAE's prior: less plausible than prior samples, and the encoder does not
    # map their decodings back near them.
    assert min(rows.values(), key=lambda row: row["frechet_distance"])["label"] == "real images (held out)"
    assert rows["real images (held out)"]["precision"] > 0.8
    assert rows["box B=10"]["precision"] < rows["prior"]["precision"] - 0.3
    assert rows["box B=10"]["cycle_error_mean"] > rows["prior"]["cycle_error_mean"]
    assert (runs / "tiny" / "evaluation" / "samples_classifier.png").stat().st_size > 1000
    assert json.loads((runs / "tiny" / "evaluation" / "classifier.json").read_text()) == evaluation
    cached = list((root / "cache" / "features").glob("synthetic-16px-*/classifier.keras"))
    assert len(cached) == 1
    again = ok("evaluate", "tiny", "--runs-dir", runs, *EVALUATE_FAST)  # reuses the cached classifier
    assert "Training the feature classifier" not in again
    assert (
        json.loads((runs / "tiny" / "evaluation.json").read_text())["plausibility"]["rows"][2]["precision"]
        == rows["prior"]["precision"]
    )  # the same seed and classifier: the same numbers


def test_evaluate_ae_marks_the_bounds_not_applicable(workspace):
    _, runs = workspace
    output = ok("evaluate", "tiny_ae", "--runs-dir", runs, *EVALUATE_FAST, "--features", "pixels")
    assert "n/a" in output and "pixels" in output
    evaluation = json.loads((runs / "tiny_ae" / "evaluation.json").read_text())
    assert evaluation["likelihood"]["applicable"] is False and "AE" in evaluation["likelihood"]["reason"]
    assert "elbo_nats" not in evaluation["likelihood"]
    assert evaluation["likelihood"]["reconstruction"]["bce_nats"] > 0
    assert evaluation["plausibility"]["feature_space"] == {
        "name": "pixels",
        "dimensions": 16 * 16 * 3,
        "description": "pixels area-downsampled to 16x16",
    }
    rows = evaluation["plausibility"]["rows"]
    assert rows[0]["label"] == "real images (held out)" and rows[0]["frechet_distance"] < rows[2]["frechet_distance"]


def test_every_plausibility_row_uses_sets_of_one_size_said_in_the_header(workspace):
    # 64 test images hold two disjoint real sets of at most 32: asked for 50 points, every row
    # (regions too) gets 32, since k-NN radii shrink as a set grows.
    _, runs = workspace
    output = ok("evaluate", "tiny_ae", "--runs-dir", runs, "-n", "50", "--box", "1", "--features", "pixels")
    assert "every row: 32 points against 32 real images" in output.replace("\n", " ")
    section = json.loads((runs / "tiny_ae" / "evaluation.json").read_text())["plausibility"]
    assert section["num_real"] == section["num_samples"] == 32 and section["num_samples_requested"] == 50
    assert [row["num_points"] for row in section["rows"]] == [32, 32, 32, 32]


def test_inception_without_local_weights_is_one_clear_error(workspace):
    _, runs = workspace
    result = vae("evaluate", "tiny", "--runs-dir", runs, *EVALUATE_FAST, "--features", "inception")
    assert result.exit_code == 2, result.output
    assert "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5" in result.output
    assert "Traceback" not in result.output


def test_iwae_bound_tightens_with_k_on_a_trained_model(workspace):
    from vaecli.api import load_run
    from vaecli.data.splits import load_splits
    from vaecli.evaluation.likelihood import analytic_kl, importance_samples
    from vaecli.evaluation.metrics import importance_weighted_bound
    from vaecli.runs.run import encode_images

    _, runs = workspace
    trained = load_run(runs / "tiny")
    images = load_splits(trained.config).train.images[:400]
    z_mean, z_log_var = encode_images(trained, images)
    samples = importance_samples(trained, images, z_mean, z_log_var, 64, seed=1)
    reconstruction = samples["bce"]
    log_weights = -reconstruction + samples["log_prior_ratio"]
    elbo = -(reconstruction.mean(axis=1) + analytic_kl(z_mean, z_log_var)).mean()
    bounds = [importance_weighted_bound(log_weights[:, :count]).mean() for count in (1, 4, 16, 64)]
    assert bounds[0] == pytest.approx(elbo, abs=2.0)  # IWAE_1 is a sampled ELBO
    assert elbo < bounds[1] < bounds[2] < bounds[3]
    assert bounds[3] - bounds[0] > 0.05  # a real gap, not rounding


def test_compare_table_csv_and_plot(workspace, tmp_path, monkeypatch):
    from vaecli.cli import console

    monkeypatch.setattr(console, "width", 250)  # a wide terminal: every header on one line
    _, runs = workspace
    ok("evaluate", "tiny", "--runs-dir", runs, *EVALUATE_FAST)
    ok("evaluate", "tiny_ae", "--runs-dir", runs, *EVALUATE_FAST, "--features", "pixels")
    # The latest evaluations are in two feature spaces: refused, with the way out.
    mixed = vae("compare", "tiny", "tiny_ae", "--runs-dir", runs)
    assert mixed.exit_code == 2 and "different feature spaces (classifier: tiny; pixels: tiny_ae)" in mixed.output
    assert "--features" in mixed.output
    ok("evaluate", "tiny", "--runs-dir", runs, *EVALUATE_FAST, "--features", "pixels")
    ok("evaluate", "tiny", "--runs-dir", runs, *EVALUATE_FAST)  # the latest is classifier again; pixels is kept
    assert {path.name for path in (runs / "tiny" / "evaluation").glob("*.json")} == {"classifier.json", "pixels.json"}
    output = ok(
        "compare",
        "tiny",
        "tiny_ae",
        "--runs-dir",
        runs,
        "--features",
        "pixels",
        "--sort",
        "val_loss",
        "--csv",
        tmp_path / "runs.csv",
        "--plot",
        tmp_path / "runs.png",
    )
    assert "model.kind" in output and "loss.kl_factor" not in output  # only the keys that differ
    assert "pixels feature space" in output and "KL schedule" in output
    with open(tmp_path / "runs.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["run"] for row in rows] == sorted(
        ["tiny", "tiny_ae"], key=lambda name: float(next(r for r in rows if r["run"] == name)["val_loss"])
    )
    by_name = {row["run"]: row for row in rows}
    assert by_name["tiny"]["model.kind"] == "vae" and by_name["tiny_ae"]["model.kind"] == "ae"
    assert by_name["tiny"]["kl_schedule"] == "constant" and by_name["tiny_ae"]["kl_schedule"] == "none"
    assert {row["features"] for row in rows} == {"pixels"}
    metrics = json.loads((runs / "tiny" / "metrics.jsonl").read_text().splitlines()[-1])
    assert float(by_name["tiny"]["val_loss"]) == pytest.approx(metrics["val_loss"])
    evaluation = json.loads((runs / "tiny" / "evaluation" / "pixels.json").read_text())
    assert float(by_name["tiny"]["elbo"]) == pytest.approx(evaluation["likelihood"]["elbo_nats"])
    assert by_name["tiny_ae"]["elbo"] == ""
    assert (tmp_path / "runs.png").stat().st_size > 5000
    missing = ok("compare", "tiny", "tiny_ae", "--runs-dir", runs, "--features", "classifier")
    assert "tiny_ae has no evaluation in the classifier feature space (it has: pixels)" in missing
    result = vae("compare", "tiny", "--runs-dir", runs, "--sort", "nonsense")
    assert result.exit_code == 2 and "no such column" in result.output


def test_sweep_skips_resumes_and_records_failures(workspace, tmp_path, monkeypatch):
    import vaecli.training.loop
    from vaecli.errors import TrainingFailed

    config = tmp_path / "grid.yaml"
    config.write_text(yaml.safe_dump(tiny_config(name="grid", train={"epochs": 1})))
    runs = tmp_path / "runs"
    output = ok("sweep", config, "--set", "loss.kl_factor=0.5,1", "--runs-dir", runs)
    names = ["grid_kl_factor=0.5", "grid_kl_factor=1"]
    assert all(name in output for name in names)
    record = json.loads((runs / "sweeps" / "grid.json").read_text())
    assert [(run["name"], run["outcome"]) for run in record["runs"]] == [(names[0], "trained"), (names[1], "trained")]
    assert yaml.safe_load((runs / names[0] / "config.yaml").read_text())["loss"]["kl_factor"] == 0.5

    # An interrupted run is resumed, a finished one skipped untouched.
    finished_decoder = runs / names[1] / "decoder.keras"
    stamp = finished_decoder.stat().st_mtime_ns
    manifest_file = runs / names[0] / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest_file.write_text(json.dumps({**manifest, "status": "KILLED"}))
    (runs / names[0] / "decoder.keras").unlink()
    ok("sweep", config, "--set", "loss.kl_factor=0.5,1", "--runs-dir", runs)
    record = json.loads((runs / "sweeps" / "grid.json").read_text())
    assert [run["outcome"] for run in record["runs"]] == ["resumed", "skipped"]
    assert json.loads(manifest_file.read_text())["status"] == "COMPLETED"
    assert (runs / names[0] / "decoder.keras").is_file() and finished_decoder.stat().st_mtime_ns == stamp

    # A failing run is recorded and the sweep goes on to the next one; the exit code says so.
    real_train = vaecli.training.loop.run_training

    def failing_train(config, paths, **options):
        if "kl_factor=2" in paths.name:
            raise TrainingFailed("Training stopped: the loss became NaN or Inf at epoch 1, step 3.")
        return real_train(config, paths, **options)

    monkeypatch.setattr(vaecli.training.loop, "run_training", failing_train)
    result = vae("sweep", config, "--set", "loss.kl_factor=2,3", "--runs-dir", runs)
    assert result.exit_code == 1, result.output
    record = json.loads((runs / "sweeps" / "grid.json").read_text())
    assert [run["outcome"] for run in record["runs"]] == ["failed", "trained"]
    assert "NaN" in record["runs"][0]["error"]
    assert (runs / "grid_kl_factor=3" / "decoder.keras").is_file()


def test_sweep_stops_cleanly_on_ctrl_c(tmp_path, monkeypatch):
    import vaecli.training.loop
    from vaecli.errors import TrainingInterrupted

    def interrupted(config, paths, **options):
        raise TrainingInterrupted("Interrupted; the run is marked KILLED with 0 completed epoch(s) saved.")

    monkeypatch.setattr(vaecli.training.loop, "run_training", interrupted)
    config = tmp_path / "grid.yaml"
    config.write_text(yaml.safe_dump(tiny_config(name="grid", train={"epochs": 1})))
    result = vae("sweep", config, "--set", "loss.kl_factor=0.5,1", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 130, result.output
    record = json.loads((tmp_path / "runs" / "sweeps" / "grid.json").read_text())
    assert [run["outcome"] for run in record["runs"]] == ["interrupted", "pending"]  # the second never started


def test_sweep_refuses_bad_axes_before_training(tmp_path):
    config = tmp_path / "grid.yaml"
    config.write_text(yaml.safe_dump(tiny_config(name="grid")))
    result = vae("sweep", config, "--set", "loss.kl_factr=1,2", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "kl_factr" in result.output
    assert not (tmp_path / "runs").exists()


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources, self.headings, self.external, self._in_h2 = [], [], [], False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.sources.append(attributes["src"])
        if tag in ("link", "script") or (attributes.get("src") or "").startswith("http"):
            self.external.append(tag)
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data)
            self._in_h2 = False


def test_report_is_one_self_contained_page(workspace):
    _, runs = workspace
    ok("evaluate", "tiny", "--runs-dir", runs, *EVALUATE_FAST)
    output = ok("report", "tiny", "--runs-dir", runs)
    page = (runs / "tiny" / "report.html").read_text()
    assert "report.html" in output
    parser = _Images()
    parser.feed(page)
    assert parser.headings == ["Run", "Config", "Training", "Reconstructions and samples across epochs", "Evaluation"]
    assert not parser.external
    # loss curve + 4 epochs x (reconstructions, samples) + the evaluation's sample figure
    assert len(parser.sources) == 1 + 4 * 2 + 1
    for source in parser.sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "kl_factor: 1.0" in page and "ELBO" in page and "classifier" in page
    assert "KL schedule" in page and "kl_penalty" in page
    ok("latent-stats", "tiny", "--runs-dir", runs)
    assert (runs / "tiny" / "latent_stats" / "kl_spectrum.png").stat().st_size > 5000
    ok("evaluate", "tiny", "--runs-dir", runs, *EVALUATE_FAST, "--features", "pixels")
    ok("report", "tiny", "--runs-dir", runs, "--features", "classifier")
    page = (runs / "tiny" / "report.html").read_text()
    assert "KL spectrum" in page and "Feature space: <b>classifier</b>" in page
