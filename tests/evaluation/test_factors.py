"""`vae factors` end to end on real tiny runs: factors.json, heat map, compare columns, report, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from tests.helpers import ok, one_line_failure, tiny_config, train_run, vae, write_jpeg_folder
from vaecli.data.labels import factor_kinds, read_labels
from vaecli.errors import DataError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def faces_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("factors")
    return train_run(folder, tiny_config(data={"num_test_images": 200}))


def test_factors_of_the_faces_are_written_and_agree_with_the_scores(faces_run):
    output = ok("factors", faces_run, "--seed", "1")
    assert "MIG" in output and "hair_colour" in output and "face_size" in output
    found = json.loads((faces_run / "evaluation" / "factors.json").read_text())
    assert found["factor_names"][:3] == ["smile", "hair_colour", "glasses"]
    assert found["discrete"] == [True, True, True, False, False, False, True, True]
    assert found["num_points"] == 200 and found["num_train"] + found["num_test"] == 200
    importance = np.array(found["importance"])
    assert importance.shape == (4, 8)  # z_dim 4 x 8 factors
    np.testing.assert_allclose(importance.sum(axis=0), 1.0, atol=1e-5)
    for key in ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap"):
        assert 0.0 <= found[key] <= 1.0, key
    # the same numbers from the library on the same encodings
    import vaecli.api
    from vaecli.evaluation.factor_metrics import factor_scores
    from vaecli.evaluation.factors import factors

    report = factors(vaecli.api.load_run(faces_run), seed=1, save=False)
    again = factor_scores(report.z_mean, report.factors, report.scores.discrete, seed=1)
    assert again.mig == pytest.approx(found["mig"]) and again.sap == pytest.approx(found["sap"])
    assert (faces_run / "evaluation" / "factor_importance.png").stat().st_size > 1000
    assert found["provenance"]["seed"] == 1


def test_compare_and_report_show_the_factor_measures(faces_run, tmp_path):
    ok("factors", faces_run)
    found = json.loads((faces_run / "evaluation" / "factors.json").read_text())
    csv_file = tmp_path / "runs.csv"
    output = ok("compare", faces_run, "--csv", csv_file)
    assert "MIG" in output and "DCI D" in output
    header, row = csv_file.read_text().splitlines()[:2]
    values = dict(zip(header.split(","), row.split(",")))
    assert float(values["mig"]) == pytest.approx(found["mig"]) and float(values["dci_c"]) == pytest.approx(
        found["dci_completeness"]
    )
    ok("report", faces_run)
    page = (faces_run / "report.html").read_text()
    assert "Known factors" in page and "hair_colour" in page


def test_an_image_folder_without_labels_has_no_factors(tmp_path):
    photos = tmp_path / "photos"
    write_jpeg_folder(photos, 40, size=(20, 20))
    config = tiny_config(
        name="folder",
        data={"source": "image_folder", "path": str(photos), "image_size": 16, "cache_dir": str(tmp_path / "cache")},
    )
    config["data"].pop("num_images"), config["data"].pop("num_test_images")
    run = train_run(tmp_path, {**config, "train": {**config["train"], "epochs": 1, "batch_size": 10}})
    one_line_failure("factors", run, fragments=("no known factors", "data.labels"))
    assert not (run / "evaluation").exists()

    # with a labels CSV (one discrete and one continuous column) the same folder has factors
    names = sorted(path.name for path in photos.iterdir())
    rows = ["file,tone,brightness"] + [f"{name},{i % 3},{i / 7:.3f}" for i, name in enumerate(names)]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    config["data"]["labels"] = str(tmp_path / "labels.csv")
    labelled = train_run(tmp_path, {**config, "name": "labelled", "train": {**config["train"], "epochs": 1}})
    ok("factors", labelled)
    found = json.loads((labelled / "evaluation" / "factors.json").read_text())
    assert found["factor_names"] == ["tone", "brightness"] and found["discrete"] == [True, False]


def test_a_labels_csv_with_missing_or_extra_files_is_refused(tmp_path):
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("file,smile\na.jpg,1\nb.jpg,0\nzzz.jpg,1\n")
    with pytest.raises(DataError, match=r"1 image file\(s\) have no row \(c.jpg\); 1 row\(s\) name no readable"):
        read_labels(csv_file, ["a.jpg", "b.jpg", "c.jpg"])
    csv_file.write_text("name,smile\na.jpg,1\n")
    with pytest.raises(DataError, match="header line file"):
        read_labels(csv_file, ["a.jpg"])
    csv_file.write_text("file,smile,age,hair\na.jpg,-1,30.5,red\nb.jpg,1,41,blond\n")
    labels = read_labels(csv_file, ["b.jpg", "a.jpg"])  # in the cache's order, not the CSV's
    assert labels["smile"].tolist() == [1, 0] and labels["hair"].tolist() == [0, 1]
    assert labels["age"].dtype == np.float64 and labels["age"].tolist() == [41.0, 30.5]
    assert factor_kinds("image_folder", labels) == {"smile": True, "age": False, "hair": True}


def test_a_bad_labels_csv_fails_training_in_one_line(tmp_path):
    photos = tmp_path / "photos"
    write_jpeg_folder(photos, 12, size=(20, 20))
    (tmp_path / "labels.csv").write_text("file,smile\n000001.jpg,1\nextra.jpg,0\n")
    config = tiny_config(
        name="bad",
        data={
            "source": "image_folder",
            "path": str(photos),
            "image_size": 16,
            "cache_dir": str(tmp_path / "cache"),
            "labels": str(tmp_path / "labels.csv"),
        },
    )
    config["data"].pop("num_images"), config["data"].pop("num_test_images")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = vae("train", path, "--runs-dir", tmp_path / "runs")
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(errors) == 1 and "Traceback" not in result.output, result.output
    assert "11 image file(s) have no row" in errors[0] and "extra.jpg" in errors[0]
    assert not (tmp_path / "runs" / "bad" / "encoder.keras").exists()


def test_labels_only_for_image_folders_and_class_labels_for_mnist_like_sources():
    from vaecli.config import validate

    with pytest.raises(Exception, match="data.labels applies to the image_folder source"):
        validate(tiny_config(data={"labels": "x.csv"}))
    assert factor_kinds("fashion_mnist", {"label": np.arange(3)}) == {"label": True}
    assert factor_kinds("synthetic", {"face_x": np.zeros(2), "smile": np.zeros(2, int)}) == {
        "smile": True,
        "face_x": False,
    }


def test_the_class_label_is_the_factor_of_fashion_mnist(tmp_path, fashion_mnist_folder):
    config = tiny_config(
        name="fmnist",
        data={"source": "fashion_mnist", "path": str(fashion_mnist_folder), "image_size": None, "limit": 1500},
        model={
            "z_dim": 6,
            "encoder": {"filters": [16, 32], "kernel_sizes": [3, 3], "strides": [2, 2]},
            "decoder": {"filters": [32, 1], "kernel_sizes": [3, 3], "strides": [2, 2]},
        },
        train={"epochs": 2, "batch_size": 100},
    )
    config["data"].pop("num_images"), config["data"].pop("num_test_images")
    run = train_run(tmp_path, config)
    ok("factors", run, "--limit", "1000")
    found = json.loads((run / "evaluation" / "factors.json").read_text())
    assert found["factor_names"] == ["label"] and found["discrete"] == [True] and found["num_points"] == 1000
    # 10 balanced classes: chance is 0.1; even a 2-epoch VAE's codes separate clothes far better than that
    assert found["probe_score"][0] > 0.4 and found["dci_informativeness"] > 0.3
    assert found["dci_completeness"] > 0.0 and found["dci_disentanglement"] == pytest.approx(1.0)  # one factor
