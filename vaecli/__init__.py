"""vaecli: train, encode, decode and sample autoencoders and VAEs on images from YAML configs.

The public Python API, imported lazily (`import vaecli` loads no TensorFlow):

    run = vaecli.train("configs/quickstart.yaml", overrides={"train.epochs": 2}, name="nb")
    run = vaecli.load_run("runs/quickstart")          # or a bare name, or None: the latest
    z = run.encode(images); images = run.decode(z); points, images = run.sample(box=10, n=64)
    vaecli.compare(["runs/a", "runs/b"]); vaecli.sweep("configs/quickstart.yaml", ["loss.kl_factor=1e-3,1"])
    vaecli.diagnose("runs/quickstart").findings; vaecli.clean("runs")   # vae doctor, vae clean
    vaecli.sweep("configs/celeba_z200.yaml", ["loss.kl_factor=1,1e-4"], devices="auto")  # one run per GPU
    vaecli.sweep_plan(...), vaecli.sweep_status("celeba_z200")  # the grid as data; each run's state

User errors raise the vaecli.errors types the CLI prints (VaeError and its subclasses).
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "train": "vaecli.api",
    "load_run": "vaecli.api",
    "Run": "vaecli.api",
    "compare": "vaecli.evaluation.compare",
    "encode_split": "vaecli.latent.encode",
    "decode_file": "vaecli.latent.decode",
    "interpolate": "vaecli.latent.interpolate",
    "traverse": "vaecli.latent.traverse",
    "latent_stats": "vaecli.latent.stats",
    "sample": "vaecli.latent.sample",
    "evaluate": "vaecli.evaluation.evaluate",
    "fit_density": "vaecli.latent.densities",
    "load_density": "vaecli.latent.densities",
    "sample_density": "vaecli.latent.densities",
    "factors": "vaecli.evaluation.factors",
    "assay": "vaecli.evaluation.assays",
    "sweep": "vaecli.sweeps",
    "sweep_plan": "vaecli.sweeps",
    "sweep_status": "vaecli.sweeps",
    "load_config": "vaecli.config",
    "diagnose": "vaecli.runs.doctor",
    "clean": "vaecli.runs.clean",
    "VaeError": "vaecli.errors",
    "ConfigError": "vaecli.errors",
    "DataError": "vaecli.errors",
    "RunError": "vaecli.errors",
    "LatentError": "vaecli.errors",
    "OutputError": "vaecli.errors",
    "ResourceError": "vaecli.errors",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'vaecli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
