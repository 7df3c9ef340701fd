"""Loss functions on batches, pure (keras.ops), testable without a model.

One likelihood: every reconstruction loss in vaecli (training, validation, evaluation,
latent statistics, tests) comes from `reconstruction_loss` on the decoder's LOGITS, the
tensor before its final sigmoid. BCE from logits is exact for any logit (a confidently
wrong pixel with logit -20 and target 1 costs 20 nats), where BCE from float32
probabilities has to clip them and caps that cost at -log(1e-7) = 16.1 nats.

Units: with reduction "sum", reconstruction loss is summed over pixels and channels of each
image (BCE: nats under a Bernoulli decoder); with "mean" it is averaged over them instead.
KL is the analytic KL(q(z|x) || N(0, I)) in nats, summed over latent dimensions. Both return
one value per image; the model averages over the batch.

The KL term over training (`KLObjective`): a schedule for its weight (constant, warm-up,
cyclical), free bits, or a capacity target; see `KLObjective.penalty` for the exact formulas.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from keras import ops

from vaecli.errors import ConfigError
from vaecli.typing_aliases import Tensor

if TYPE_CHECKING:
    from vaecli.config import ExperimentConfig

# --------------------------------------------------------------------------- reconstruction


def _bernoulli_nats(targets: Tensor, logits: Tensor) -> Tensor:
    """-log Bernoulli(x | sigmoid(l)) per value, in nats: max(l, 0) - l * x + log(1 + exp(-|l|)).

    The stable form of -(x log s(l) + (1 - x) log(1 - s(l))): no clipping, exact at any |l|.
    """
    return ops.relu(logits) - logits * targets + ops.log1p(ops.exp(-ops.abs(logits)))


def _squared_error(targets: Tensor, logits: Tensor) -> Tensor:
    """(x - sigmoid(l))^2 per value: the decoder's mean is the sigmoid of its logits."""
    return ops.square(targets - ops.sigmoid(logits))


RECONSTRUCTIONS = {"bce": _bernoulli_nats, "mse": _squared_error}
REDUCTIONS = {"sum": ops.sum, "mean": ops.mean}


def reconstruction_loss(targets: Tensor, logits: Tensor, kind: str = "bce", reduction: str = "sum") -> Tensor:
    """Per-image reconstruction loss. targets: floats in [0, 1]; logits: the decoder's pre-sigmoid output, NHWC."""
    if kind not in RECONSTRUCTIONS:
        raise ValueError(f"unknown reconstruction loss {kind!r} (known: {', '.join(RECONSTRUCTIONS)})")
    return REDUCTIONS[reduction](RECONSTRUCTIONS[kind](targets, logits), axis=(1, 2, 3))


def gaussian_variance(effective_kl_factor: float) -> float:
    """The decoder variance an MSE run trained: sigma^2 = f_eff / 2.

    loss = sum (x - mu)^2 + f * KL = f * (sum (x - mu)^2 / (2 sigma^2) + KL) with 2 sigma^2 = f:
    the negative ELBO of a Gaussian decoder N(mu, sigma^2 I), up to the constant and the factor f.
    """
    return effective_kl_factor / 2.0


def gaussian_nats(squared_error_sum: np.ndarray, variance: float, values_per_image: int) -> np.ndarray:
    """-log N(x | mu, variance I) per image, in nats: sum (x - mu)^2 / (2 var) + D/2 log(2 pi var)."""
    squared = np.asarray(squared_error_sum, np.float64)
    return squared / (2.0 * variance) + 0.5 * values_per_image * math.log(2.0 * math.pi * variance)


# --------------------------------------------------------------------------------------- KL


def kl_per_dimension(z_mean: Tensor, z_log_var: Tensor) -> Tensor:
    """(N, z_dim) KL(N(z_mean_d, exp(z_log_var_d)) || N(0, 1)) of each dimension, in nats."""
    return -0.5 * (1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))


def kl_divergence(z_mean: Tensor, z_log_var: Tensor) -> Tensor:
    """Per-image KL(N(z_mean, exp(z_log_var)) || N(0, I)) in nats."""
    return ops.sum(kl_per_dimension(z_mean, z_log_var), axis=-1)


def effective_kl_factor(kl_factor: float, reduction: str, values_per_image: int) -> float:
    """The KL factor that gives the same optimum under reduction "sum".

    With "mean", loss = mean_reco + f * kl = (sum_reco + f * D * kl) / D, so the run behaves
    like a "sum" run with factor f * D (D = pixels x channels). The manifest records this.
    """
    return kl_factor * values_per_image if reduction == "mean" else kl_factor


# ------------------------------------------------------- the KL decomposition (beta-TCVAE)

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_density(z: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
    """log N(z | mean, exp(log_var)) per value, in nats (broadcasting)."""
    return -0.5 * (LOG_2PI + log_var + ops.square(z - mean) * ops.exp(-log_var))


def tc_decomposition(z: Tensor, z_mean: Tensor, z_log_var: Tensor, dataset_size: int) -> tuple[Tensor, Tensor, Tensor]:
    """(index-code MI, total correlation, dimension-wise KL), each a batch mean in nats.

    Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs", eq. 2 (the decomposition)
    and sec. 3.1 (minibatch-weighted sampling, MWS): with z_i ~ q(z|x_i) for the M images of the
    batch and N = dataset_size,

        log q(z_i)      ~ logsumexp_j log q(z_i | x_j)          - log(N M)
        log q(z_i,d)    ~ logsumexp_j log q(z_i,d | x_j,d)      - log(N M)   (each dimension d)

        MI  = mean_i [log q(z_i|x_i) - log q(z_i)]
        TC  = mean_i [log q(z_i) - sum_d log q(z_i,d)]
        DWKL = mean_i [sum_d log q(z_i,d) - log p(z_i)]

    The three add up to mean_i [log q(z_i|x_i) - log p(z_i)] exactly (the estimates of log q
    cancel): a one-sample Monte Carlo estimate of the analytic KL that `kl_loss` logs, equal to
    it in expectation. MWS is biased for each term on its own (log of an average), not for the sum.
    """
    z, z_mean, z_log_var = (ops.cast(value, "float32") for value in (z, z_mean, z_log_var))
    batch = ops.cast(ops.shape(z)[0], "float32")
    log_normaliser = ops.log(batch * float(dataset_size))
    pairwise = gaussian_log_density(z[:, None, :], z_mean[None, :, :], z_log_var[None, :, :])  # (M, M, D)
    log_q_given_x = ops.sum(gaussian_log_density(z, z_mean, z_log_var), axis=-1)
    log_prior = ops.sum(gaussian_log_density(z, 0.0, ops.zeros_like(z)), axis=-1)
    log_q = ops.logsumexp(ops.sum(pairwise, axis=-1), axis=1) - log_normaliser
    log_product = ops.sum(ops.logsumexp(pairwise, axis=1) - log_normaliser, axis=-1)
    return (
        ops.mean(log_q_given_x - log_q),
        ops.mean(log_q - log_product),
        ops.mean(log_product - log_prior),
    )


# ---------------------------------------------------------------------- the KL term over time


def _float64(value: Tensor) -> Tensor:
    """A float64 tensor: Python floats would become float32 constants first (40/3 -> 13.333333015)."""
    return ops.convert_to_tensor(value, dtype="float64")


def _constant(objective: KLObjective, step: Tensor) -> Tensor:
    return ops.ones_like(step)


def _warmup(objective: KLObjective, step: Tensor) -> Tensor:
    """Linear from 0 at step 0 to 1 after warmup_epochs, per step: the "warm-up" of Sønderby et al. 2016
    (Ladder VAEs); Bowman et al. 2016 annealed the KL weight with a sigmoid, not a line."""
    steps = objective.warmup_epochs * objective.steps_per_epoch
    return ops.minimum(1.0, step / _float64(steps)) if steps > 0 else ops.ones_like(step)


def _cyclical(objective: KLObjective, step: Tensor) -> Tensor:
    """`cycles` equal cycles over the run; each rises linearly for cycle_ratio of it, then stays 1 (Fu et al. 2019)."""
    cycle = _float64(objective.epochs * objective.steps_per_epoch / objective.cycles)  # steps per cycle
    phase = ops.mod(step, cycle) / cycle
    return ops.minimum(1.0, phase / _float64(objective.cycle_ratio))


SCHEDULES = {"constant": _constant, "warmup": _warmup, "cyclical": _cyclical}
MIN_STEPS_PER_CYCLE = 2  # a cycle of one step sits at phase 0, weight 0, for ever


@dataclass(frozen=True)
class KLObjective:
    """How the KL term enters the loss at each optimizer step (0-based, counted over the whole run).

        plain       penalty = w(step) * KL,                         w = kl_factor * schedule(step)
        free bits   penalty = w(step) * sum_d max(free_bits, KL_d)  (Kingma et al. 2016)
        capacity    penalty = gamma * |KL - C(step)|,               C rising linearly to capacity_nats
                                                                    over capacity_epochs (Burgess et al. 2018)
        beta-TCVAE  penalty = w(step) * (MI + tc_weight * TC + DWKL)  (Chen et al. 2018; tc_decomposition)

    KL and KL_d are means over the batch (under train.distribute: over each replica's share of
    it), in nats. Epochs may be fractional: step / steps_per_epoch is the progress in epochs.
    """

    kl_factor: float = 1.0  # 0 for an AE
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    cycles: int = 1
    cycle_ratio: float = 1.0
    free_bits: float = 0.0  # nats per dimension
    capacity_nats: float | None = None  # None: no capacity objective
    capacity_epochs: float = 0.0
    gamma: float = 1.0
    epochs: int = 1  # train.epochs: the length of the run (cyclical)
    steps_per_epoch: int = 1
    tc_weight: float | None = None  # beta on the total correlation; None: the analytic KL (a plain VAE)
    dataset_size: int = 1  # N of minibatch-weighted sampling: steps_per_epoch * batch_size (vaecli.losses)

    @classmethod
    def from_config(cls, config: ExperimentConfig, steps_per_epoch: int) -> KLObjective:
        """The objective of an experiment config (an AE: weight 0, nothing else).

        A ConfigError for a cyclical schedule with fewer than MIN_STEPS_PER_CYCLE optimizer steps per
        cycle: its weight, min(1, phase / cycle_ratio) at phase = (step mod cycle) / cycle, would be 0
        at every step (a cycle of one step or less only ever sits at phase 0), i.e. no KL term at all.
        """
        loss = config.loss
        if config.model.kind != "vae":
            return cls(kl_factor=0.0, epochs=config.train.epochs, steps_per_epoch=steps_per_epoch)
        total_steps = config.train.epochs * steps_per_epoch
        if loss.kl_schedule == "cyclical" and loss.capacity is None and total_steps < MIN_STEPS_PER_CYCLE * loss.cycles:
            raise ConfigError(
                f"loss.cycles is {loss.cycles} but the run has {total_steps} optimizer steps (train.epochs "
                f"{config.train.epochs} x {steps_per_epoch} per epoch); each cycle needs at least "
                f"{MIN_STEPS_PER_CYCLE} steps, or its KL weight stays 0: use at most "
                f"{total_steps // MIN_STEPS_PER_CYCLE} cycles"
            )
        capacity = loss.capacity
        return cls(
            kl_factor=loss.kl_factor,
            schedule=loss.kl_schedule,
            warmup_epochs=loss.warmup_epochs,
            cycles=loss.cycles,
            cycle_ratio=loss.cycle_ratio,
            free_bits=loss.free_bits,
            capacity_nats=None if capacity is None else capacity.max_nats,
            capacity_epochs=0.0 if capacity is None else _or(capacity.epochs, config.train.epochs),
            gamma=1.0 if capacity is None else capacity.gamma,
            epochs=config.train.epochs,
            steps_per_epoch=steps_per_epoch,
            tc_weight=loss.tc_weight,
            # the training images, to within the last partial batch (the model never sees the exact count)
            dataset_size=steps_per_epoch * config.train.batch_size,
        )

    def tc_penalty(self, terms: tuple[Tensor, Tensor, Tensor], step: Tensor) -> Tensor:
        """The beta-TCVAE KL term from (MI, TC, dimension-wise KL): w(step) * (MI + tc_weight * TC + DWKL)."""
        information, total_correlation, dimensionwise = terms
        weighted = information + float(self.tc_weight or 0.0) * total_correlation + dimensionwise
        return ops.cast(self.weight(step), weighted.dtype) * weighted

    @property
    def factor(self) -> float:
        """The factor on the KL term once any schedule has risen: gamma under capacity, else kl_factor (0: AE).

        This is the KL factor the manifest records and the Gaussian decoder's variance follows
        (sigma^2 = effective factor / 2): under capacity, gamma * |KL - C| weights KL by gamma once KL > C.
        """
        return self.gamma if self.capacity_nats is not None else self.kl_factor

    def weight(self, step: Tensor) -> Tensor:
        """The factor on the KL term at `step` (float64): kl_factor * schedule, or gamma under capacity."""
        step = ops.cast(step, "float64")
        if self.capacity_nats is not None:
            return ops.full_like(step, self.gamma)  # float64 like step
        return _float64(self.kl_factor) * SCHEDULES[self.schedule](self, step)

    def capacity(self, step: Tensor) -> Tensor:
        """C(step) in nats: capacity_nats * min(1, epochs done / capacity_epochs) (0 without capacity)."""
        step = ops.cast(step, "float64")
        if self.capacity_nats is None:
            return ops.zeros_like(step)
        steps = self.capacity_epochs * self.steps_per_epoch
        ramp = ops.minimum(1.0, step / _float64(steps)) if steps > 0 else ops.ones_like(step)
        return _float64(self.capacity_nats) * ramp

    def penalty(self, kl_dimension_means: Tensor, step: Tensor) -> Tensor:
        """The KL term that enters the loss (nats per image), from the batch-mean KL of each dimension (z_dim,)."""
        if self.free_bits > 0:
            kl_dimension_means = ops.maximum(kl_dimension_means, self.free_bits)
        kl = ops.sum(kl_dimension_means)
        if self.capacity_nats is not None:
            return self.gamma * ops.abs(kl - ops.cast(self.capacity(step), kl.dtype))
        return ops.cast(self.weight(step), kl.dtype) * kl

    def describe(self) -> str:
        """A short label for tables: 'constant', 'warmup 2 ep', 'cyclical 4x0.5 + free bits 0.1', 'capacity ...'."""
        if self.capacity_nats is not None:
            return f"capacity {self.capacity_nats:g} nats/{self.capacity_epochs:g} ep, gamma {self.gamma:g}"
        label = {
            "constant": "constant",
            "warmup": f"warmup {self.warmup_epochs:g} ep",
            "cyclical": f"cyclical {self.cycles}x{self.cycle_ratio:g}",
        }[self.schedule]
        label += f" + free bits {self.free_bits:g}" if self.free_bits > 0 else ""
        return label + (f" + TC weight {self.tc_weight:g}" if self.tc_weight is not None else "")

    def to_manifest(self) -> dict[str, Any]:
        """What manifest.json records under kl_schedule (the per-run step count included)."""
        return {"description": self.describe(), **asdict(self)}


def _or(value, default):
    return default if value is None else value
