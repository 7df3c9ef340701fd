"""Statistics over seeds: which differences between variants are real.

Each variant of a study is trained with a few seeds; its numbers are a sample of n values.

- mean and sample standard deviation (n - 1 in the denominator);
- the 95% confidence interval of the mean from Student's t: mean ± t(0.975, n - 1) * sd / sqrt(n)
  (it assumes the seeds' values are roughly normal; with n = 3, t = 4.303, so the interval is
  about 2.5 sd wide on each side);
- Welch's t-test of two groups' means (unequal variances, Welch-Satterthwaite degrees of freedom),
  two-sided p-value, from scipy.stats.ttest_ind(equal_var=False).

Nothing is adjusted for multiple comparisons: a table of many p-values holds some small ones by
chance (about 1 in 20 below 0.05 when nothing differs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Summary:
    """mean, sd and the 95% t-interval of the mean of n values; sd and the interval are None for n < 2."""

    n: int
    mean: float
    sd: float | None
    low: float | None
    high: float | None

    @property
    def half_width(self) -> float | None:
        return None if self.high is None else self.high - self.mean

    def format(self, digits: int = 3) -> str:
        """'0.512 [0.401, 0.623]': the mean and its 95% interval (the mean alone for one value)."""
        if self.low is None or self.high is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def _finite(values: Sequence[float | None]) -> list[float]:
    return [float(value) for value in values if value is not None and math.isfinite(float(value))]


def summarize(values: Sequence[float | None], confidence: float = CONFIDENCE) -> Summary:
    """Mean, sd and the t-interval of the mean of the finite values (None and NaN are left out).

    Example:
        >>> summarize([1.0, 2.0, 3.0]).format(2)
        '2.00 [-0.48, 4.48]'
    """
    from scipy import stats

    numbers = _finite(values)
    if not numbers:
        raise ValueError("values holds no finite number")
    n = len(numbers)
    mean = sum(numbers) / n
    if n < 2:
        return Summary(n, mean, None, None, None)
    sd = math.sqrt(sum((value - mean) ** 2 for value in numbers) / (n - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return Summary(n, mean, sd, mean - half, mean + half)


def welch_p_value(first: Sequence[float | None], second: Sequence[float | None]) -> float | None:
    """Two-sided p-value of Welch's t-test that two groups have the same mean; None when it is undefined.

    Undefined: a group with fewer than 2 values, or both groups without any spread. One group
    without spread against one with spread is a defined test.

    Example:
        >>> round(welch_p_value([1.0, 2.0, 3.0], [4.0, 5.0, 6.5]), 4)
        0.0291
    """
    from scipy import stats

    a, b = _finite(first), _finite(second)
    if len(a) < 2 or len(b) < 2:
        return None
    if max(a) == min(a) and max(b) == min(b):
        return None
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)
