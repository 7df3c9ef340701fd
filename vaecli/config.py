"""Experiment configs: frozen pydantic models, YAML loading, `--set a.b=value` overrides.

Every user mistake ends in a ConfigError whose lines each name one dotted field path, so
`vae train` can print them and exit 2 before anything is written.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vaecli.errors import MAX_SHOWN, ConfigError, shorten
from vaecli.io.yaml_config import apply_overrides, read_yaml
from vaecli.runs.paths import RESERVED_NAMES, is_reserved

MAX_NAME_LENGTH = 100  # a run name is a folder name; its hidden temporaries add ~30 characters (255 at most)
MAX_SEED = 2**32 - 1  # NumPy's and TensorFlow's seeds: 0 .. 2^32-1
MAX_ERROR_LINES = 12  # problems listed of one invalid config (the rest are counted)


def _no_bool(value: Any) -> Any:
    """YAML reads `true` as a bool and pydantic would take it as the int 1 (z_dim 1): refuse it."""
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true/false")
    return value


# A whole number: 1e4 (read as a float by YAML) is still fine, true/false are not.
Int = Annotated[int, BeforeValidator(_no_bool)]


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataConfig(Section):
    source: str = "synthetic"  # a name in vaecli.data.sources.SOURCES
    # Folder holding the data set's files; None searches the usual places. Required for image_folder.
    path: str | None = None
    # Pixels (square); None = the source's native size (synthetic and image_folder: 64).
    image_size: Int | None = Field(None, ge=8, le=1024)
    num_images: Int = Field(20000, ge=10)  # synthetic only: images in the train+validation pool
    num_test_images: Int = Field(2000, ge=10)  # synthetic only: images in the test split
    # Use only the first N training images (image_folder: the first N files, in sorted path order;
    # synthetic: only N images are generated).
    limit: Int | None = Field(None, ge=2)
    # image_folder only. channels: the model's input; grey, palette, RGBA, CMYK, 16-bit files are converted.
    channels: Literal["rgb", "grayscale"] = "rgb"
    # image_folder only: "center" = the largest centred square; [top, left, height, width] in source pixels
    # (CelebA's usual face crop of its 178x218 images is [40, 15, 148, 148]); then resized to image_size.
    crop: Literal["center"] | list[Int] = "center"
    # image_folder only: the colour transparent pixels (PNG, GIF, WebP alpha) are flattened onto:
    # "white", "black" or [r, g, b] in 0..255. Line art on transparency is drawn for a white page.
    background: Literal["white", "black"] | list[Int] = "white"
    test_split: float = Field(0.1, ge=0.0, lt=1.0)  # image_folder only: fraction of the images held out as test
    # image_folder only: where decoded uint8 caches go; None = the cache root (vaecli.io.cache_root).
    cache_dir: str | None = None
    # image_folder only: a CSV of known factors, header `file,<factor>,...`, one row per image (vaecli.data.labels).
    labels: str | None = None

    @model_validator(mode="after")
    def _known_source(self) -> DataConfig:
        from vaecli.data.sources import SOURCES

        if self.source not in SOURCES:
            raise ValueError(f"unknown data source {self.source!r} (known: {', '.join(SOURCES)})")
        if self.source == "image_folder" and not self.path:
            raise ValueError("the image_folder source needs data.path, the folder that holds the images")
        if self.labels is not None and self.source != "image_folder":
            raise ValueError(f"data.labels applies to the image_folder source; {self.source} has its own labels")
        if isinstance(self.crop, list) and (len(self.crop) != 4 or min(self.crop[:2]) < 0 or min(self.crop[2:]) < 1):
            raise ValueError(
                f"data.crop must be 'center' or [top, left, height, width] with top, left >= 0 and "
                f"height, width >= 1, got {shorten(self.crop)}"
            )
        if isinstance(self.background, list) and (
            len(self.background) != 3 or not all(0 <= v <= 255 for v in self.background)
        ):
            raise ValueError(
                f"data.background must be white, black or [r, g, b] with values in 0..255, "
                f"got {shorten(self.background)}"
            )
        return self

    @property
    def background_rgb(self) -> tuple[int, int, int]:
        named = {"white": (255, 255, 255), "black": (0, 0, 0)}
        return named[self.background] if isinstance(self.background, str) else tuple(self.background)  # type: ignore[return-value]


class TaskConfig(Section):
    # reconstruct: target = input. denoise: the input is corrupted (fresh, seeded noise every epoch), the target
    # is the clean image. recolor: the input is the grey version of a colour image, the target its colours.
    kind: Literal["reconstruct", "denoise", "recolor"] = "reconstruct"
    noise_std: float = Field(0.0, ge=0.0, le=1.0)  # denoise: Gaussian noise std, in [0, 1] pixel units
    drop_fraction: float = Field(0.0, ge=0.0, lt=1.0)  # denoise: fraction of pixels set to zero (all channels)

    @model_validator(mode="after")
    def _denoise_has_noise(self) -> TaskConfig:
        if self.kind == "denoise" and self.noise_std == 0 and self.drop_fraction == 0:
            raise ValueError("task denoise needs task.noise_std > 0 or task.drop_fraction > 0")
        if self.kind != "denoise" and (self.noise_std or self.drop_fraction):
            raise ValueError(f"task.noise_std and task.drop_fraction apply to task denoise, not {self.kind}")
        return self


class ConvStack(Section):
    filters: list[Int] = Field(min_length=1)
    kernel_sizes: list[Int] = Field(min_length=1)
    strides: list[Int] = Field(min_length=1)


class ModelConfig(Section):
    kind: Literal["vae", "ae"] = "vae"
    z_dim: Int = Field(32, ge=1, le=4096)
    encoder: ConvStack = ConvStack(filters=[32, 64, 64, 64], kernel_sizes=[3, 3, 3, 3], strides=[1, 2, 2, 1])
    decoder: ConvStack = ConvStack(filters=[64, 64, 32, 3], kernel_sizes=[3, 3, 3, 3], strides=[1, 2, 2, 1])
    activation: Literal["leaky_relu", "relu", "selu"] = "leaky_relu"
    batch_norm: bool = False
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # rate after each conv block (AlphaDropout for selu)


class CapacityConfig(Section):
    """Burgess et al. 2018: loss = reconstruction + gamma * |KL - C|, C rising linearly to max_nats."""

    max_nats: float = Field(ge=0.0)  # C at the end of the ramp, nats per image (required)
    epochs: float | None = Field(None, ge=0.0)  # length of the ramp (fractional allowed); None = the whole run
    gamma: float = Field(1000.0, gt=0.0)  # weight of |KL - C| (the paper's 1000)


class LossConfig(Section):
    reconstruction: Literal["bce", "mse"] = "bce"
    # sum: summed over pixels and channels per image (nats for BCE); mean: averaged instead.
    reduction: Literal["sum", "mean"] = "sum"
    kl_factor: float = Field(1.0, ge=0.0)  # loss = reconstruction + kl_factor * kl (the final factor of a schedule)
    # The KL factor over training, per optimizer step: constant; warmup (0 -> kl_factor over warmup_epochs);
    # cyclical (`cycles` cycles over the run, each rising for cycle_ratio of it, then flat at kl_factor).
    kl_schedule: Literal["constant", "warmup", "cyclical"] = "constant"
    warmup_epochs: float = Field(1.0, ge=0.0)  # warmup: epochs to reach kl_factor (fractional allowed)
    cycles: int = Field(4, ge=1)  # cyclical: cycles over the run
    cycle_ratio: float = Field(0.5, gt=0.0, le=1.0)  # cyclical: fraction of each cycle spent rising
    free_bits: float = Field(0.0, ge=0.0)  # nats per dimension: each dimension's batch-mean KL enters as max(., KL_d)
    capacity: CapacityConfig | None = None  # replaces kl_factor * KL by gamma * |KL - C|
    # beta-TCVAE (Chen et al. 2018): the KL term becomes MI + tc_weight * TC + dimension-wise KL (minibatch-weighted
    # sampling, vaecli.losses.tc_decomposition), times kl_factor and its schedule. None: the analytic KL.
    tc_weight: float | None = Field(None, ge=0.0)

    @field_validator("capacity")
    @classmethod
    def _capacity_alone(cls, capacity: CapacityConfig | None, info: ValidationInfo) -> CapacityConfig | None:
        """Capacity replaces the weighted KL term: no schedule or free bits on top of it."""
        if capacity is not None and info.data.get("kl_schedule", "constant") != "constant":
            raise ValueError(
                f"sets its own target over time; not combinable with kl_schedule {info.data['kl_schedule']}"
            )
        if capacity is not None and info.data.get("free_bits", 0.0) > 0:
            raise ValueError("not combinable with free_bits (choose one)")
        return capacity

    @field_validator("tc_weight")
    @classmethod
    def _tc_weight_alone(cls, tc_weight: float | None, info: ValidationInfo) -> float | None:
        """The TC decomposition replaces the analytic KL: free bits and capacity act on that KL per dimension."""
        if tc_weight is not None and (info.data.get("free_bits", 0.0) > 0 or info.data.get("capacity") is not None):
            raise ValueError("not combinable with free_bits or capacity (choose one)")
        return tc_weight

    def model_problems(self, kind: str) -> list[str]:
        """Loss settings the model kind cannot use: an AE has no KL term to schedule."""
        if kind == "vae":
            return []
        used = [
            name
            for name, used in (
                ("loss.kl_schedule", self.kl_schedule != "constant"),
                ("loss.free_bits", self.free_bits > 0),
                ("loss.capacity", self.capacity is not None),
                ("loss.tc_weight", self.tc_weight is not None),
            )
            if used
        ]
        return [f"{name}: an AE (model.kind: ae) has no KL term to schedule" for name in used]


class TrainConfig(Section):
    epochs: Int = Field(10, ge=1)
    batch_size: Int = Field(128, ge=1)
    learning_rate: float = Field(1e-3, gt=0.0)
    schedule: Literal["constant", "step", "cosine"] = "constant"
    decay_every: Int = Field(10, ge=1)  # step schedule: epochs between drops
    decay_factor: float = Field(0.5, gt=0.0, le=1.0)  # step schedule: multiplier per drop
    min_learning_rate: float = Field(0.0, ge=0.0)  # cosine schedule: value at the last step
    validation_split: float = Field(0.1, ge=0.0, lt=1.0)  # fraction of the training pool held out
    seed: Int | None = Field(None, ge=0, le=MAX_SEED)  # weights, shuffling, sampling noise; None = the top-level seed
    # auto: decided per device; true/false (YAML also reads on/off as booleans) force it.
    jit_compile: Literal["auto"] | bool = "auto"  # XLA
    mixed_precision: Literal["auto"] | bool = "auto"
    deterministic: bool = True  # deterministic TF ops: exact resume, slightly slower
    # none: one device. mirrored: every GPU of this machine (tf.distribute.MirroredStrategy). multi_worker:
    # several machines described by $TF_CONFIG (MultiWorkerMirroredStrategy). batch_size is the global batch.
    distribute: Literal["none", "mirrored", "multi_worker"] = "none"


class OutputConfig(Section):
    image_every: Int = Field(1, ge=1)  # epochs between reconstruction/sample PNG grids
    grid_images: Int = Field(32, ge=1, le=256)  # images per grid
    checkpoint_every: Int = Field(1, ge=1)  # epochs between checkpoints (the last epoch always)


NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]*$")


def run_name_problem(name: str) -> str | None:
    """Why name cannot name a run folder, or None: the characters, the length, the runs folder's own names."""
    if not NAME_PATTERN.match(name) or len(name) > MAX_NAME_LENGTH:
        return (
            f"{shorten(name)} is not a usable run name: 1 to {MAX_NAME_LENGTH} letters, digits and . _ = + -, "
            f"starting with a letter or digit"
        )
    if is_reserved(name):
        return f"{name} is a name the runs folder uses itself ({', '.join(RESERVED_NAMES)}); pick another"
    return None


class ExperimentConfig(Section):
    name: str = "experiment"  # the run folder's name: see _valid_name
    seed: Int = Field(0, ge=0, le=MAX_SEED)
    data: DataConfig = DataConfig()
    task: TaskConfig = TaskConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    train: TrainConfig = TrainConfig()
    output: OutputConfig = OutputConfig()

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        problem = run_name_problem(name)
        if problem:
            raise ValueError(problem)
        return name

    @property
    def train_seed(self) -> int:
        return self.seed if self.train.seed is None else self.train.seed

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        from vaecli.io.yaml_config import dump_yaml

        return dump_yaml(self.to_dict())


def _field_names(model: type[BaseModel], location: tuple) -> list[str]:
    """Allowed keys at a location in the config, for 'did you mean' hints."""
    for part in location[:-1]:
        annotation = model.model_fields.get(str(part))
        if annotation is None or not isinstance(annotation.annotation, type):
            return []
        if not issubclass(annotation.annotation, BaseModel):
            return []
        model = annotation.annotation
    return list(model.model_fields)


def _describe(error: Any) -> str:  # a pydantic ErrorDetails
    location = tuple(error["loc"])
    if error["type"] != "extra_forbidden":  # an unknown key is the user's own text, brackets and all
        # pydantic names the branch of a union it tried ("literal['center']", "list[int]"): not a key of the config
        location = tuple(part for part in location if not (isinstance(part, str) and ("[" in part or "(" in part)))
    path = ".".join(str(part) for part in location) or "config"
    path = path if len(path) <= 2 * MAX_SHOWN else path[: 2 * MAX_SHOWN - 4] + " ..."
    if error["type"] == "extra_forbidden":
        allowed = _field_names(ExperimentConfig, location)
        close = difflib.get_close_matches(str(location[-1]), allowed, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
        return f"{path}: unknown key ({hint})"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] not in ("value_error", "missing"):
        message += f" (got {shorten(error['input'])})"
    return f"{path}: {message}"


def validate(data: dict[str, Any], source: str = "config") -> ExperimentConfig:
    """Build the config from plain data, or raise ConfigError listing every problem."""
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as error:
        problems = [f"{source}: {_describe(item)}" for item in error.errors()]
        if len(problems) > MAX_ERROR_LINES:
            problems[MAX_ERROR_LINES - 1 :] = [f"... and {len(problems) - MAX_ERROR_LINES + 1:,} more problems"]
        raise ConfigError(*problems) from None
    from vaecli.models.architecture import architecture_problems

    problems = architecture_problems(config) + config.loss.model_problems(config.model.kind)
    if problems:
        raise ConfigError(*(f"{source}: {problem}" for problem in problems))
    return config


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    path = Path(path)
    return validate(apply_overrides(read_yaml(path), overrides or []), source=str(path))
