"""Disentanglement measures of codes against known factors: pure NumPy / scikit-learn on arrays.

Inputs are codes (N, D) float (a split's z_mean) and factors (N, K) with a kind per factor
(discrete: integer classes, taken as they are; continuous: real values). Every score is in
[0, 1], higher is better. Definitions, with the choices the papers leave open stated:

- Discretisation (for mutual information): each code dimension and each continuous factor is
  cut into NUM_BINS = 20 equal-width bins between its minimum and maximum, as
  disentanglement_lib's `_histogram_discretize` does; discrete factors keep their classes.
  Mutual information is then the plug-in estimate on the joint histogram, in nats.
- MIG (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs", eq. 6): for each
  factor v_k, (I(z_j(1); v_k) - I(z_j(2); v_k)) / H(v_k), the gap between the two codes with
  the largest mutual information with it; MIG is the mean over factors with H(v_k) > 0.
- DCI (Eastwood & Williams 2018, "A Framework for the Quantitative Evaluation of Disentangled
  Representations", sec. 3): an importance matrix R (D, K) from one gradient-boosted tree
  ensemble per factor (scikit-learn's impurity-based `feature_importances_`, as
  disentanglement_lib does; classifier for discrete, regressor for continuous factors).
  Disentanglement: 1 - H_K(P_i.) per code with P_ij = R_ij / sum_k R_ik, weighted by the code's
  share of all importance. Completeness: 1 - H_D(P~_.j) per factor with P~_ij = R_ij / sum_i R_ij,
  weighted by the factor's share (disentanglement_lib's weighting; the paper averages).
  Entropies have base K and D, so both lie in [0, 1]. Informativeness: the held-out
  prediction of the same trees, chance-corrected so that codes carrying no information score 0:
  for a discrete factor (accuracy - majority rate) / (1 - majority rate), for a continuous one
  R^2; each clipped at 0 and averaged over factors. (The paper reports the prediction error;
  this is its complement on a scale where 0 = chance and 1 = perfect.)
- SAP (Kumar et al. 2018, "Variational Inference of Disentangled Latent Concepts from Unlabeled
  Observations", sec. 3): a score per (code, factor): for a continuous factor the squared
  linear correlation (R^2 of a one-variable linear fit); for a discrete one the held-out
  balanced accuracy of a linear SVM on that one code (disentanglement_lib's choice). SAP is the
  mean over factors of the gap between the two best codes' scores.
- Probes: per factor, a linear model on all codes, trained on one part and scored on the
  held-out part: LogisticRegression accuracy (discrete) or Ridge R^2 (continuous). The best
  single dimension of a factor is the code with the largest normalised mutual information.

Runtime: the tree ensembles dominate. With the defaults (train on at most 2,000 points, test
on at most 1,000, 30 trees of depth 3 per factor) 10 codes x 8 factors take a few seconds on
one CPU core.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

NUM_BINS = 20  # equal-width bins per code dimension and continuous factor (disentanglement_lib's default)
NUM_TREES = 30  # gradient-boosted trees per factor (disentanglement_lib: sklearn's default 100; 30 for speed)
TRAIN_POINTS, TEST_POINTS = 2000, 1000  # at most this many points fit and score the models


@dataclass
class FactorScores:
    """Every score of one set of codes against its factors (see the module's definitions)."""

    factor_names: list[str]
    discrete: list[bool]
    mig: float
    dci_disentanglement: float
    dci_completeness: float
    dci_informativeness: float
    sap: float
    mig_per_factor: list[float]
    informativeness_per_factor: list[float]
    sap_per_factor: list[float]
    best_dimension: list[int]  # per factor: the code with the largest normalised mutual information
    probe_score: list[float]  # per factor: linear probe accuracy (discrete) or R^2 (continuous), held out
    importance: np.ndarray = field(repr=False)  # (D, K) DCI importances, columns summing to 1 (or 0)
    mutual_information: np.ndarray = field(repr=False)  # (D, K) nats
    num_train: int = 0
    num_test: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values; NaN (a factor constant on the split: no entropy, nothing to probe) becomes None."""
        values = asdict(self)
        values["importance"] = np.round(self.importance, 6).tolist()
        values["mutual_information"] = np.round(self.mutual_information, 6).tolist()
        return {key: _finite(value) for key, value in values.items()}


def _finite(value: Any) -> Any:
    """value with every NaN or infinite float (also inside lists) replaced by None."""
    if isinstance(value, list):
        return [_finite(item) for item in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def discretize(values: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """(N, M) integer bin of each column: num_bins equal-width bins between the column's min and max."""
    values = np.asarray(values, np.float64)
    binned = np.zeros(values.shape, np.int64)
    for column in range(values.shape[1]):
        edges = np.histogram_bin_edges(values[:, column], bins=num_bins)
        binned[:, column] = np.digitize(values[:, column], edges[1:-1])  # 0 .. num_bins-1
    return binned


def factor_classes(factors: np.ndarray, discrete: Sequence[bool], num_bins: int = NUM_BINS) -> np.ndarray:
    """(N, K) integer classes: discrete factors relabelled 0.., continuous ones binned."""
    factors = np.asarray(factors)
    classes = np.empty(factors.shape, np.int64)
    for k, is_discrete in enumerate(discrete):
        if is_discrete:
            classes[:, k] = np.unique(factors[:, k], return_inverse=True)[1]
        else:
            classes[:, k] = discretize(factors[:, k : k + 1], num_bins)[:, 0]
    return classes


def mutual_information(codes_binned: np.ndarray, factor_bins: np.ndarray) -> np.ndarray:
    """(D, K) plug-in mutual information in nats between each binned code and each factor's classes."""
    from sklearn.metrics import mutual_info_score

    return np.array(
        [
            [mutual_info_score(factor_bins[:, k], codes_binned[:, d]) for k in range(factor_bins.shape[1])]
            for d in range(codes_binned.shape[1])
        ]
    )


def entropies(factor_bins: np.ndarray) -> np.ndarray:
    """(K,) entropy in nats of each factor's classes."""
    result = np.empty(factor_bins.shape[1])
    for k in range(factor_bins.shape[1]):
        p = np.bincount(factor_bins[:, k]) / len(factor_bins)
        p = p[p > 0]
        result[k] = -np.sum(p * np.log(p))
    return result


def mig_from(mutual_info: np.ndarray, factor_entropy: np.ndarray) -> np.ndarray:
    """(K,) normalised gap between the two codes most informative about each factor (nan where H = 0)."""
    top = np.sort(mutual_info, axis=0)[::-1]
    second = top[1] if len(top) > 1 else np.zeros_like(top[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(factor_entropy > 0, (top[0] - second) / factor_entropy, np.nan)


def _entropy_base(p: np.ndarray, base: int, axis: int) -> np.ndarray:
    """Entropy of distributions along axis with the given log base (0 log 0 = 0)."""
    logs = np.log(np.where(p > 0, p, 1.0)) / np.log(base)
    return -np.sum(p * logs, axis=axis)


def dci_from_importance(importance: np.ndarray) -> tuple[float, float]:
    """(disentanglement, completeness) of an importance matrix R (D codes, K factors), Eastwood & Williams."""
    importance = np.abs(np.asarray(importance, np.float64))
    total = importance.sum()
    if total <= 0:
        return 0.0, 0.0
    num_codes, num_factors = importance.shape
    code_totals, factor_totals = importance.sum(axis=1), importance.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_code = np.nan_to_num(importance / code_totals[:, None])
        per_factor = np.nan_to_num(importance / factor_totals[None, :])
    disentanglement = 1.0 - (_entropy_base(per_code, num_factors, 1) if num_factors > 1 else 0.0)
    completeness = 1.0 - (_entropy_base(per_factor, num_codes, 0) if num_codes > 1 else 0.0)
    return float(np.sum(disentanglement * code_totals / total)), float(np.sum(completeness * factor_totals / total))


def _split(count: int, seed: int, train_points: int, test_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint train and test rows: a seeded permutation, at most half of the points held out."""
    order = np.random.default_rng(seed).permutation(count)
    num_test = min(test_points, count // 2)
    return order[num_test : num_test + train_points], order[:num_test]


def _chance_corrected(predicted: np.ndarray, truth: np.ndarray, train_truth: np.ndarray, is_discrete: bool) -> float:
    """0 = no better than predicting the training majority (or mean), 1 = perfect; clipped at 0."""
    if is_discrete:
        majority = np.mean(truth == np.bincount(train_truth).argmax())
        accuracy = np.mean(predicted == truth)
        return float(max(0.0, (accuracy - majority) / (1.0 - majority))) if majority < 1 else 0.0
    variance = np.var(truth)
    return float(max(0.0, 1.0 - np.mean((predicted - truth) ** 2) / variance)) if variance > 0 else 0.0


def _trees(
    train_codes: np.ndarray,
    train_target: np.ndarray,
    test_codes: np.ndarray,
    test_target: np.ndarray,
    is_discrete: bool,
    seed: int,
) -> tuple[np.ndarray, float]:
    """(importances (D,), chance-corrected held-out score) of one gradient-boosted ensemble."""
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

    if len(np.unique(train_target)) < 2:  # a constant factor: nothing to predict, no importance
        return np.zeros(train_codes.shape[1]), 0.0
    model_type = GradientBoostingClassifier if is_discrete else GradientBoostingRegressor
    model = model_type(n_estimators=NUM_TREES, max_depth=3, random_state=seed)
    model.fit(train_codes, train_target)
    score = _chance_corrected(model.predict(test_codes), test_target, train_target, is_discrete)
    return model.feature_importances_, score


def _sap_scores(
    train_codes: np.ndarray,
    train_target: np.ndarray,
    test_codes: np.ndarray,
    test_target: np.ndarray,
    is_discrete: bool,
) -> np.ndarray:
    """(D,) SAP score of each code alone for one factor."""
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.svm import LinearSVC

    scores = np.zeros(train_codes.shape[1])
    for d in range(train_codes.shape[1]):
        if not is_discrete:
            code, target = (
                np.concatenate([train_codes[:, d], test_codes[:, d]]),
                np.concatenate([train_target, test_target]),
            )
            if np.std(code) > 0 and np.std(target) > 0:
                scores[d] = np.corrcoef(code, target)[0, 1] ** 2
        elif len(np.unique(train_target)) > 1:
            model = LinearSVC(C=0.01, class_weight="balanced").fit(train_codes[:, d : d + 1], train_target)
            with warnings.catch_warnings():  # a rare class absent from the held-out part is fine here
                warnings.simplefilter("ignore", UserWarning)
                scores[d] = balanced_accuracy_score(test_target, model.predict(test_codes[:, d : d + 1]))
    return scores


def _probe(
    train_codes: np.ndarray,
    train_target: np.ndarray,
    test_codes: np.ndarray,
    test_target: np.ndarray,
    is_discrete: bool,
) -> float:
    """Held-out accuracy of a logistic regression (discrete) or R^2 of a ridge regression (continuous)."""
    from sklearn.linear_model import LogisticRegression, Ridge

    if len(np.unique(train_target)) < 2:
        return float("nan")
    if is_discrete:
        model = LogisticRegression(max_iter=500).fit(train_codes, train_target)
        return float(np.mean(model.predict(test_codes) == test_target))
    model = Ridge(alpha=1.0).fit(train_codes, train_target)
    return float(model.score(test_codes, test_target))


def _standardised(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both scaled by the training part's mean and sd (an AE's arbitrary latent scale stops mattering)."""
    mean, sd = train.mean(axis=0), train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (train - mean) / sd, (test - mean) / sd


def factor_scores(
    codes: np.ndarray,
    factors: np.ndarray,
    discrete: Sequence[bool],
    factor_names: Sequence[str] | None = None,
    *,
    seed: int = 0,
    train_points: int = TRAIN_POINTS,
    test_points: int = TEST_POINTS,
) -> FactorScores:
    """MIG, DCI, SAP and per-factor probes of codes (N, D) against factors (N, K) (module docstring).

    Mutual information uses every point; the fitted models (DCI trees, SAP, probes) train on at
    most train_points and score on at most test_points disjoint ones, drawn with seed.
    """
    codes = np.asarray(codes, np.float64)
    factors = np.asarray(factors, np.float64)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ValueError(f"codes (N, D) and factors (N, K) must have as many rows, got {codes.shape}, {factors.shape}")
    if len(discrete) != factors.shape[1] or len(codes) < 4:
        raise ValueError("discrete needs one flag per factor column, and at least 4 points are needed")
    names = list(factor_names) if factor_names is not None else [f"factor_{k}" for k in range(factors.shape[1])]
    classes = factor_classes(factors, discrete)
    mutual_info = mutual_information(discretize(codes), classes)
    factor_entropy = entropies(classes)
    gaps = mig_from(mutual_info, factor_entropy)

    train_rows, test_rows = _split(len(codes), seed, train_points, test_points)
    train_codes, test_codes = _standardised(codes[train_rows], codes[test_rows])
    importance = np.zeros((codes.shape[1], factors.shape[1]))
    informativeness, sap, probes = [], [], []
    for k, is_discrete in enumerate(discrete):
        target = classes[:, k] if is_discrete else factors[:, k]
        parts = (train_codes, target[train_rows], test_codes, target[test_rows], bool(is_discrete))
        importance[:, k], score = _trees(*parts, seed=seed)
        informativeness.append(score)
        top = np.sort(_sap_scores(*parts))[::-1]
        sap.append(float(top[0] - (top[1] if len(top) > 1 else 0.0)))
        probes.append(_probe(*parts))
    disentanglement, completeness = dci_from_importance(importance)
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = np.where(factor_entropy > 0, mutual_info / factor_entropy, 0.0)
    return FactorScores(
        factor_names=names,
        discrete=[bool(flag) for flag in discrete],
        mig=float(np.nanmean(gaps)) if np.any(np.isfinite(gaps)) else float("nan"),
        dci_disentanglement=disentanglement,
        dci_completeness=completeness,
        dci_informativeness=float(np.mean(informativeness)),
        sap=float(np.mean(sap)),
        mig_per_factor=[float(value) for value in gaps],
        informativeness_per_factor=informativeness,
        sap_per_factor=sap,
        best_dimension=[int(d) for d in np.argmax(normalised, axis=0)],
        probe_score=probes,
        importance=importance,
        mutual_information=mutual_info,
        num_train=len(train_rows),
        num_test=len(test_rows),
    )
