"""Names for values whose libraries ship no type information.

Keras and TensorFlow ship no type information (no py.typed, no stubs), so mypy sees every value of theirs
as Any (`ignore_missing_imports` in pyproject.toml). An alias here is Any too: it says what a parameter
holds, for the reader; mypy checks nothing about it. Code written with TensorFlow ops names `tf.Tensor`,
`tf.data.Dataset` and `keras.Model` directly (under TYPE_CHECKING where the module does not import them).
"""

from __future__ import annotations

from typing import Any, TypeAlias

# What keras.ops takes and returns: a tf.Tensor under the TensorFlow backend, or a NumPy array or number
# (keras.ops converts those), e.g. the losses of vaecli.losses on a model's outputs or on arrays in tests.
Tensor: TypeAlias = Any
