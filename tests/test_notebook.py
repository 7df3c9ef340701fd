"""examples/latent_space_tour.ipynb runs top to bottom in a real kernel, and shows what it promises."""

import os

import pytest

from tests.helpers import ROOT

NOTEBOOK = ROOT / "examples" / "latent_space_tour.ipynb"

pytestmark = pytest.mark.slow


def test_the_latent_space_tour_runs_every_cell(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("VAECLI_RUNS", str(tmp_path / "runs"))  # the kernel inherits it: a short run is trained here
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()  # raises on a failing cell

    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code_cells)
    text = "".join(output.get("text", "") for cell in code_cells for output in cell.outputs)
    assert "epoch 2:" in text and "active units" in text and "norms along the path" in text
    assert "MIG" in text and "linear probe" in text and "held-out log-likelihood" in text
    pictures = [output for cell in code_cells for output in cell.outputs if "image/png" in output.get("data", {})]
    assert len(pictures) >= 7  # KL bars + norms, PCA, box and prior samples, interpolation, factors, density samples
    assert (tmp_path / "runs" / "tour" / "decoder.keras").is_file()
    assert os.listdir(NOTEBOOK.parent) == ["latent_space_tour.ipynb"]  # nothing written beside it
