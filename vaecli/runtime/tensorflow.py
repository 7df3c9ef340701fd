"""TensorFlow start-up: a quiet import, seeding, determinism, and per-device XLA / precision choices."""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from vaecli.config import ExperimentConfig, ModelConfig, TrainConfig


@contextmanager
def quiet_stderr(replay: bool = True) -> Iterator[None]:
    """Hide what C++ code (TF's start-up, absl, libjpeg's complaints) prints to fd 2.

    With replay, what was printed is written out if the block fails, so a broken install still
    explains itself.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            if replay:
                sink.seek(0)
                sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


# TensorFlow threads of this process (intra-op; inter-op: at most 2), for processes that share a CPU:
# `vae sweep --jobs N` sets it to cores / N in each run it starts. Unset: TensorFlow's default (every core).
THREADS_VARIABLE = "VAECLI_THREADS"


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _limit_threads(tf: ModuleType) -> None:
    """Apply VAECLI_THREADS, at most one thread per core (more only slow TensorFlow down, and a huge number
    crashes it); only possible before TensorFlow's runtime starts (import_tensorflow starts it)."""
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if not value.isdigit() or int(value) < 1:
        return
    threads = min(int(value[:9]), _cores())
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    except RuntimeError:  # the runtime started already (an op ran); the manifest records what is in force
        pass


def thread_settings() -> dict:
    """What the manifest records: TensorFlow's thread pools (0: TensorFlow's default, one thread per core)."""
    tf = import_tensorflow()
    return {
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        "cores": _cores(),
    }


def import_tensorflow(start_runtime: bool = True) -> ModuleType:
    """Import TensorFlow once, quietly, and touch the devices so their start-up logs are hidden too.

    start_runtime=False leaves the runtime unstarted, for a MultiWorkerMirroredStrategy that must
    configure it (its caller keeps stderr quiet while it does).
    """
    if "tensorflow" in sys.modules:  # imported as a dependency (keras): the runtime may not have started yet
        imported = sys.modules["tensorflow"]
        _limit_threads(imported)
        return imported
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet_stderr():
        import keras  # noqa: F401  (keras' own import prints too)
        import tensorflow as tf

        _limit_threads(tf)
        if start_runtime:
            tf.config.list_physical_devices()
            tf.constant(0.0)  # creates the eager context, where cuInit complaints are printed
    return tf


@dataclass(frozen=True)
class Acceleration:
    device: str  # "GPU: <name> x N" or "CPU"
    jit_compile: bool
    precision_policy: str  # keras dtype policy: float32, mixed_float16 or mixed_bfloat16


# "1" or "0": the CPU's answer to "has native bfloat16?", overriding /proc/cpuinfo. How the test suite runs
# the bfloat16 path of `mixed_precision: auto` on every machine (TensorFlow emulates bfloat16 where the CPU lacks it).
CPU_BFLOAT16_VARIABLE = "VAECLI_CPU_BFLOAT16"


def cpu_has_bfloat16() -> bool:
    """True on x86 CPUs with native bfloat16 arithmetic (AVX512_BF16 or AMX), where oneDNN runs
    bfloat16 convolutions about 1.4x faster than float32 (benchmarks/train_throughput.py)."""
    forced = os.environ.get(CPU_BFLOAT16_VARIABLE, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_acceleration(train_config: TrainConfig) -> Acceleration:
    """Turn "auto" into concrete choices for the devices present.

    XLA: on for GPUs; off on CPU, where it made this model slower. Mixed precision: on for
    GPUs (bfloat16 where the hardware has it, so no loss scaling is needed) and on CPUs with
    native bfloat16, where it trained to the same loss (within 0.2%) 1.4x faster; else off.
    """
    tf = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        device = f"GPU: {details.get('device_name', 'unknown')} x {len(gpus)}"
        mixed = "mixed_bfloat16" if details.get("compute_capability", (0, 0)) >= (8, 0) else "mixed_float16"
    else:
        device, mixed = "CPU", "mixed_bfloat16"
    on_gpu = bool(gpus)
    jit = on_gpu if train_config.jit_compile == "auto" else train_config.jit_compile
    auto_mixed = on_gpu or cpu_has_bfloat16()
    use_mixed = auto_mixed if train_config.mixed_precision == "auto" else train_config.mixed_precision
    return Acceleration(device, jit, mixed if use_mixed else "float32")


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and TF; optionally make TF ops deterministic (needed for exact resume)."""
    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def onednn_enabled() -> bool:
    """True when TensorFlow runs its CPU kernels through oneDNN (the default on CPUs with AVX-512;
    TF_ENABLE_ONEDNN_OPTS=1 forces it on, =0 off)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # a TensorFlow without this internal module: assume the default Eigen kernels
        return False
    return bool(_pywrap_util_port.IsMklEnabled())


def avoid_remapper_failure(model_config: ModelConfig) -> bool:
    """Turn grappler's remapper off where it fails on our training graph; True when it did.

    With oneDNN, the remapper fuses Conv2D + BiasAdd + LeakyRelu into one op even though the
    gradient's LeakyReluGrad still reads the LeakyRelu it removes; the pass then aborts with
    `E0000 ... meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT: Mutation::Apply error:
    fanout '.../LeakyReluGrad' exist for missing node ...` on stderr, and grappler rolls the whole
    remapper pass of that graph back. Turning the remapper off gives the training graph exactly
    what it had (no fusion), with no error line; other activations fuse without trouble.
    """
    if model_config.activation != "leaky_relu" or not onednn_enabled():
        return False
    tf = import_tensorflow()
    tf.config.optimizer.set_experimental_options({"remapping": False})
    return True


@contextmanager
def configured_runtime(config: ExperimentConfig) -> Iterator[Acceleration]:
    """Everything a training process sets up before building a model (devices, precision, seeds), undone on exit.

    Keras' dtype policy, the Python, NumPy and TensorFlow global seeds, op determinism and grappler's options
    are process-wide: a notebook that trains a run and then builds its own model must get float32 and its own
    randomness back. TensorFlow's thread pools cannot change once its runtime started, so they stay.
    """
    import keras

    with restored_global_state():
        acceleration = resolve_acceleration(config.train)
        keras.mixed_precision.set_global_policy(acceleration.precision_policy)
        seed_everything(config.train_seed, config.train.deterministic)
        avoid_remapper_failure(config.model)
        yield acceleration


@contextmanager
def restored_global_state() -> Iterator[None]:
    """Run the block, then put back every process-wide setting it may change (see configured_runtime)."""
    import random

    import keras
    import numpy as np
    from tensorflow.python.eager import context
    from tensorflow.python.framework import config as framework_config  # disable_op_determinism is not public

    tf = import_tensorflow()
    policy = keras.mixed_precision.global_policy()
    python_random, numpy_random = random.getstate(), np.random.get_state()
    tf_seed = context.global_seed()
    determinism = framework_config.is_op_determinism_enabled()
    optimizer_options = tf.config.optimizer.get_experimental_options()
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(policy)
        random.setstate(python_random)
        np.random.set_state(numpy_random)
        tf.random.set_seed(tf_seed)
        if not determinism:
            framework_config.disable_op_determinism()
        tf.config.optimizer.set_experimental_options({"remapping": optimizer_options.get("remapping", True)})
