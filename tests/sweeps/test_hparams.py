"""A sweep writes TensorBoard's HParams view (runs/sweeps/NAME/tensorboard/), read back with TensorBoard's reader."""

from __future__ import annotations

import json

import pytest

from tests.helpers import ok, tiny_config


@pytest.mark.slow
def test_a_sweep_is_an_hparams_experiment_with_one_session_per_point(write_config, tmp_path):
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer
    from tensorboard.plugins.hparams import metadata

    runs = tmp_path / "runs"
    config = write_config(tiny_config(name="hp", train={"epochs": 1}))
    ok("sweep", config, "--set", "loss.kl_factor=0.5,2", "--set", "model.z_dim=2,3", "--runs-dir", runs)
    names = [f"hp_kl_factor={kl}_z_dim={z}" for kl in ("0.5", "2") for z in (2, 3)]

    multiplexer = EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(runs / "sweeps" / "hp" / "tensorboard"))
    multiplexer.Reload()
    content = multiplexer.PluginRunToTagToContent(metadata.PLUGIN_NAME)
    experiment = metadata.parse_experiment_plugin_data(content["."][metadata.EXPERIMENT_TAG])
    assert sorted(hparam.name for hparam in experiment.hparam_infos) == ["loss.kl_factor", "model.z_dim"]
    metric_tags = {metric.name.tag for metric in experiment.metric_infos}
    assert {"final/loss", "final/val_loss", "final/kl_loss"} <= metric_tags

    assert sorted(run for run in content if run != ".") == sorted(names)
    for name in names:
        start = metadata.parse_session_start_info_plugin_data(content[name][metadata.SESSION_START_INFO_TAG])
        kl_factor, z_dim = start.hparams["loss.kl_factor"].number_value, start.hparams["model.z_dim"].number_value
        assert f"hp_kl_factor={kl_factor:g}_z_dim={z_dim:g}" == name
        final = json.loads((runs / name / "manifest.json").read_text())["final_metrics"]
        scalars = {tag: multiplexer.Tensors(name, tag)[0] for tag in ("final/loss", "final/val_loss")}
        for tag, event in scalars.items():
            value = float(event.tensor_proto.float_val[0])
            assert value == pytest.approx(final[tag.removeprefix("final/")], rel=1e-6)
