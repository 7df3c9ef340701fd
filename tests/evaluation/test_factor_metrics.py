"""Known answers for MIG, DCI, SAP and the probes, and agreement with a reference written from the papers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.linalg import hadamard
from scipy.stats import entropy as scipy_entropy

from vaecli.evaluation.factor_metrics import (
    NUM_BINS,
    dci_from_importance,
    discretize,
    entropies,
    factor_classes,
    factor_scores,
    mig_from,
    mutual_information,
)

DISCRETE = [True, True, False, False]  # a binary, a 4-class and two uniform continuous factors


def make_factors(count: int = 3000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [rng.integers(0, 2, count), rng.integers(0, 4, count), rng.uniform(0, 1, count), rng.uniform(-2, 2, count)]
    ).astype(np.float64)


def standardised(values: np.ndarray) -> np.ndarray:
    return (values - values.mean(axis=0)) / values.std(axis=0)


@pytest.fixture(scope="module")
def factors() -> np.ndarray:
    return make_factors()


@pytest.fixture(scope="module")
def aligned(factors):
    """Codes = the factors themselves plus small noise, and two extra pure-noise dimensions."""
    rng = np.random.default_rng(1)
    codes = standardised(factors) + 0.01 * rng.standard_normal(factors.shape)
    codes = np.column_stack([codes, rng.standard_normal((len(codes), 2))])
    return factor_scores(codes, factors, DISCRETE, seed=0)


def test_codes_equal_to_the_factors_score_near_one(aligned):
    assert aligned.mig > 0.85, aligned.mig_per_factor
    assert min(aligned.mig_per_factor[:2]) > 0.95  # discrete factors: the binned code holds all of H(v)
    assert aligned.dci_disentanglement > 0.9
    assert aligned.dci_completeness > 0.9
    assert aligned.dci_informativeness > 0.9
    assert aligned.sap > 0.5
    assert aligned.best_dimension == [0, 1, 2, 3]
    # linear probes: the binary factor is linearly separable; the 4-class one is ordered on one axis,
    # which one-vs-rest logistic regression separates too; continuous factors give R^2 near 1
    assert aligned.probe_score[0] > 0.99 and aligned.probe_score[2] > 0.99 and aligned.probe_score[3] > 0.99
    assert aligned.importance.shape == (6, 4)
    np.testing.assert_allclose(aligned.importance.sum(axis=0), 1.0, atol=1e-9)
    assert aligned.importance[4:].sum() < 0.05  # the noise dimensions are not used


def test_a_mixing_rotation_scores_low(factors):
    """Each code an equal mix of all four factors (a Hadamard rotation): nothing is disentangled."""
    codes = standardised(factors) @ (hadamard(4) / 2.0) + 0.01 * np.random.default_rng(2).standard_normal(factors.shape)
    mixed = factor_scores(codes, factors, DISCRETE, seed=0)
    assert mixed.mig < 0.05 and mixed.sap < 0.05
    assert mixed.dci_disentanglement < 0.05 and mixed.dci_completeness < 0.05
    assert mixed.dci_informativeness > 0.9  # the information is all still there, only mixed


def test_a_random_rotation_scores_well_below_the_aligned_codes(factors, aligned):
    rng = np.random.default_rng(2)
    rotation, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    codes = standardised(factors) @ rotation + 0.01 * rng.standard_normal(factors.shape)
    rotated = factor_scores(codes, factors, DISCRETE, seed=0)
    assert rotated.mig < aligned.mig - 0.3
    assert rotated.dci_disentanglement < 0.7 and rotated.dci_completeness < 0.7
    assert rotated.dci_informativeness > 0.9


def test_pure_noise_has_no_informativeness(factors):
    codes = np.random.default_rng(3).standard_normal((len(factors), 5))
    noise = factor_scores(codes, factors, DISCRETE, seed=0)
    assert noise.dci_informativeness < 0.05
    assert noise.mig < 0.05
    assert noise.sap < 0.1
    assert abs(noise.probe_score[2]) < 0.05  # R^2 of a ridge on noise


# --------------------------------------------------------------------------- reference, from the papers


def reference_bins(values: np.ndarray, bins: int) -> np.ndarray:
    """floor((x - min) / (max - min) * bins), the max in the last bin: equal-width bins written out."""
    low, high = values.min(), values.max()
    return np.minimum(np.floor((values - low) / (high - low) * bins), bins - 1).astype(int)


def reference_mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """sum p(a, b) log(p(a, b) / (p(a) p(b))) from the joint count table."""
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1)
    joint /= joint.sum()
    pa, pb = joint.sum(axis=1, keepdims=True), joint.sum(axis=0, keepdims=True)
    mask = joint > 0
    return float(np.sum(joint[mask] * np.log(joint[mask] / (pa @ pb)[mask])))


def reference_dci(importance: np.ndarray) -> tuple[float, float]:
    """Eastwood & Williams sec. 3 with loops and scipy's entropy (base K for codes, base D for factors)."""
    num_codes, num_factors = importance.shape
    total = importance.sum()
    disentanglement = 0.0
    for i in range(num_codes):
        row = importance[i]
        if row.sum() > 0:
            disentanglement += (1 - scipy_entropy(row / row.sum(), base=num_factors)) * row.sum() / total
    completeness = 0.0
    for j in range(num_factors):
        column = importance[:, j]
        if column.sum() > 0:
            completeness += (1 - scipy_entropy(column / column.sum(), base=num_codes)) * column.sum() / total
    return disentanglement, completeness


def test_mutual_information_and_mig_agree_with_the_reference(factors):
    rng = np.random.default_rng(4)
    codes = standardised(factors) @ rng.standard_normal((4, 3)) + 0.3 * rng.standard_normal((len(factors), 3))
    classes = factor_classes(factors, DISCRETE)
    mine = mutual_information(discretize(codes), classes)
    reference = np.zeros((3, 4))
    for d in range(3):
        code_bins = reference_bins(codes[:, d], NUM_BINS)
        for k in range(4):
            column = factors[:, k]
            factor_bins = column.astype(int) if DISCRETE[k] else reference_bins(column, NUM_BINS)
            reference[d, k] = reference_mutual_information(code_bins, factor_bins)
    np.testing.assert_allclose(mine, reference, atol=1e-9)

    factor_entropy = entropies(classes)
    np.testing.assert_allclose(factor_entropy[:2], [math.log(2), math.log(4)], atol=0.01)
    expected = [
        (sorted(reference[:, k])[-1] - sorted(reference[:, k])[-2]) / scipy_entropy(np.bincount(classes[:, k]))
        for k in range(4)
    ]
    np.testing.assert_allclose(mig_from(mine, factor_entropy), expected, atol=1e-9)


def test_dci_formulas_agree_with_the_reference():
    rng = np.random.default_rng(5)
    for shape in ((6, 4), (10, 8), (3, 5)):
        importance = rng.uniform(0, 1, shape) * (rng.uniform(0, 1, shape) > 0.3)
        np.testing.assert_allclose(dci_from_importance(importance), reference_dci(importance), atol=1e-12)
    one_to_one = np.eye(4)
    assert dci_from_importance(one_to_one) == pytest.approx((1.0, 1.0))
    uniform = np.ones((4, 4))
    assert dci_from_importance(uniform) == pytest.approx((0.0, 0.0), abs=1e-12)


def test_sap_for_continuous_factors_is_the_gap_in_squared_correlation(factors):
    rng = np.random.default_rng(6)
    continuous = factors[:, 2:3]
    codes = np.column_stack(
        [continuous[:, 0] + 0.5 * rng.standard_normal(len(factors)), rng.standard_normal(len(factors))]
    )
    scores = factor_scores(codes, continuous, [False], seed=0)
    squared = [np.corrcoef(codes[:, d], continuous[:, 0])[0, 1] ** 2 for d in range(2)]
    assert scores.sap == pytest.approx(abs(squared[0] - squared[1]), abs=1e-9)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="as many rows"):
        factor_scores(np.zeros((10, 2)), np.zeros((9, 1)), [True])
    with pytest.raises(ValueError, match="one flag per factor"):
        factor_scores(np.zeros((10, 2)), np.zeros((10, 2)), [True])


def test_a_constant_factor_is_reported_as_none_not_nan(factors):
    import json

    constant = factors.copy()
    constant[:, 0] = 1.0  # every image has the same class
    codes = standardised(factors[:, 1:]) + 0.01 * np.random.default_rng(7).standard_normal((len(factors), 3))
    scores = factor_scores(codes, constant, DISCRETE, seed=0)
    assert math.isnan(scores.mig_per_factor[0]) and math.isnan(scores.probe_score[0])
    assert scores.importance[:, 0].sum() == 0.0 and scores.mig > 0.5  # the mean over the other factors
    values = scores.to_dict()
    assert values["mig_per_factor"][0] is None and values["probe_score"][0] is None
    json.dumps(values, allow_nan=False)  # what write_json_atomic demands
