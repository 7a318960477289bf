"""Stability losses: how far the output on a perturbed copy is from the clean one.

Each loss compares the model's output on the clean input `x` (passed as
`y_true`) with its output on the perturbed copy `x'` (passed as `y_pred`),
per sample over the last axis, and reduces over the batch through
`keras.losses.Loss`, so that `tf.distribute` and mixed precision treat it
exactly like a compiled Keras loss. Each comes as a class and a function.

The ranking losses of `keras_stability.triplet` are re-exported here, so that
every loss of the library is found in one module.
"""

import re

import keras
from keras import ops

from keras_stability._checks import check_bool
from keras_stability._checks import check_same_shape
from keras_stability._numerics import log_distribution
from keras_stability._numerics import overflow_scale
from keras_stability._numerics import safe_sqrt
from keras_stability.triplet import TripletHardLoss
from keras_stability.triplet import TripletHingeLoss
from keras_stability.triplet import TripletSemiHardLoss
from keras_stability.triplet import triplet_hard_loss
from keras_stability.triplet import triplet_hinge_loss
from keras_stability.triplet import triplet_semihard_loss

__all__ = [
    "CrossEntropy",
    "JensenShannonDivergence",
    "KLDivergence",
    "L2Distance",
    "SquaredL2Distance",
    "TripletHardLoss",
    "TripletHingeLoss",
    "TripletSemiHardLoss",
    "cross_entropy",
    "get",
    "is_distribution_loss",
    "jensen_shannon_consistency",
    "jensen_shannon_divergence",
    "kl_divergence",
    "l2_distance",
    "reads_probabilities",
    "squared_l2_distance",
    "triplet_hard_loss",
    "triplet_hinge_loss",
    "triplet_semihard_loss",
]


def _distribution(outputs, log_outputs, from_logits):
    return ops.exp(log_outputs) if from_logits else ops.convert_to_tensor(outputs)


def _pair(clean, perturbed):
    """The two outputs as tensors, after checking that their shapes match."""
    clean, perturbed = ops.convert_to_tensor(clean), ops.convert_to_tensor(perturbed)
    check_same_shape(clean=clean, perturbed=perturbed)
    return clean, perturbed


def _expectation(p, values):
    """`sum_j p_j * values_j` over the last axis, with `0 * values_j = 0`.

    A class of probability exactly 0 adds 0 even where its value is infinite
    or NaN: logits more than float32's range apart give a log-probability of
    -inf, and `0 * -inf` (or `-inf - -inf`) would make the sum NaN. The
    `where` comes before the product so that the gradient stays finite too.
    """
    nonzero = ops.not_equal(p, 0)
    return ops.sum(p * ops.where(nonzero, values, ops.zeros_like(values)), axis=-1)


def kl_divergence(clean, perturbed, from_logits=False):
    """KL divergence from the clean to the perturbed predicted distribution.

    Formula:

    ```
    kl = sum_j P(y_j | x) * (log P(y_j | x) - log P(y_j | x'))
    ```

    The clean distribution comes first: KL(P(y|x) || P(y|x')).

    Probabilities or logits, the same for the three distribution losses
    (`kl_divergence`, `cross_entropy`, `jensen_shannon_divergence` and their
    classes): the outputs are probabilities unless `from_logits=True`, and
    are then clipped to `[keras.config.epsilon(), 1]` before the logarithm,
    as in `keras.losses.KLDivergence`. Logits passed as probabilities give a
    meaningless term (rows of negative logits all clip to epsilon: exactly
    0, with no gradient), so pass `from_logits=True` for logits. With it,
    the log-distributions come from `log_softmax`, so extreme logits give
    finite values and gradients. A class of clean probability exactly 0
    adds 0, even where logits more than float32's range apart make its
    log-probabilities -inf.

    Args:
        clean: outputs on the clean input, shape `(..., classes)`.
        perturbed: outputs on the perturbed input, same shape.
        from_logits: whether the outputs are logits rather than
            probabilities. Defaults to `False`.

    Returns:
        The divergence per sample, shape `clean.shape[:-1]`.

    Example:

    >>> import numpy as np
    >>> clean = np.array([[0.5, 0.5]])
    >>> perturbed = np.array([[0.25, 0.75]])
    >>> round(float(kl_divergence(clean, perturbed)[0]), 4)  # log(4 / 3) / 2
    0.1438

    Reference:
        Zheng, Song, Leung, Goodfellow. Improving the Robustness of Deep
        Neural Networks via Stability Training. CVPR 2016.
    """
    clean, perturbed = _pair(clean, perturbed)
    log_p = log_distribution(clean, from_logits)
    log_q = log_distribution(perturbed, from_logits)
    p = _distribution(clean, log_p, from_logits)
    return _expectation(p, log_p - log_q)


def cross_entropy(clean, perturbed, from_logits=False):
    """The paper's written stability term: -sum_j P(y_j|x) log P(y_j|x').

    Formula:

    ```
    ce = -sum_j P(y_j | x) * log P(y_j | x')
       = KL(P(y|x) || P(y|x')) + H(P(y|x))
    ```

    It equals `kl_divergence` plus the entropy of the clean distribution, so
    the two differ when the gradient flows through the clean branch: this
    form also pushes the clean prediction towards confidence. Probabilities
    and logits are read as described in `kl_divergence`. Where the true
    value exceeds float32's range (a perturbed log-probability below the
    most negative float32, from logits more than that apart) the result is
    `inf`.

    Args:
        clean: outputs on the clean input, shape `(..., classes)`.
        perturbed: outputs on the perturbed input, same shape.
        from_logits: whether the outputs are logits. Defaults to `False`.

    Returns:
        The cross-entropy per sample, shape `clean.shape[:-1]`.

    Example:

    >>> import numpy as np
    >>> p = np.array([[0.5, 0.5]])
    >>> round(float(cross_entropy(p, p)[0]), 4)  # the entropy of p: log 2
    0.6931

    Reference:
        Zheng, Song, Leung, Goodfellow. Improving the Robustness of Deep
        Neural Networks via Stability Training. CVPR 2016.
    """
    clean, perturbed = _pair(clean, perturbed)
    log_p = log_distribution(clean, from_logits)
    log_q = log_distribution(perturbed, from_logits)
    p = _distribution(clean, log_p, from_logits)
    return -_expectation(p, log_q)


def jensen_shannon_divergence(clean, perturbed, from_logits=False):
    """Symmetric Jensen-Shannon divergence between the two distributions.

    Formula:

    ```
    m = (p + q) / 2
    jsd = (KL(p || m) + KL(q || m)) / 2
    ```

    In nats, so it lies in [0, log 2]. Probabilities and logits are read as
    described in `kl_divergence`; with `from_logits=True`, `log m` is a
    `logsumexp` of the two log-distributions, finite at extreme logits.

    Args:
        clean: outputs on the clean input, shape `(..., classes)`.
        perturbed: outputs on the perturbed input, same shape.
        from_logits: whether the outputs are logits. Defaults to `False`.

    Returns:
        The divergence per sample, shape `clean.shape[:-1]`.

    Example:

    >>> import numpy as np
    >>> p, q = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    >>> round(float(jensen_shannon_divergence(p, q)[0]), 4)  # disjoint: log 2
    0.6931

    Reference:
        Hendrycks et al. AugMix: A Simple Data Processing Method to Improve
        Robustness and Uncertainty. ICLR 2020.
    """
    clean, perturbed = _pair(clean, perturbed)
    log_p = log_distribution(clean, from_logits)
    log_q = log_distribution(perturbed, from_logits)
    p = _distribution(clean, log_p, from_logits)
    q = _distribution(perturbed, log_q, from_logits)
    if from_logits:
        # Where both probabilities are 0 (both log-probabilities may be
        # -inf), log m is never used: 0 stands in, to keep NaN out of the
        # logsumexp and its gradient.
        unused = ops.logical_and(ops.equal(p, 0), ops.equal(q, 0))
        both = ops.stack(
            [
                ops.where(unused, ops.zeros_like(log_p), log_p),
                ops.where(unused, ops.zeros_like(log_q), log_q),
            ],
            axis=0,
        )
        log_m = ops.logsumexp(both, axis=0) - ops.log(ops.cast(2.0, both.dtype))
    else:
        log_m = log_distribution((p + q) / 2.0, from_logits=False)
    kl_pm = _expectation(p, log_p - log_m)
    kl_qm = _expectation(q, log_q - log_m)
    return (kl_pm + kl_qm) / 2.0


def jensen_shannon_consistency(clean, views, from_logits=False):
    """Jensen-Shannon divergence among the clean and several perturbed views.

    AugMix's consistency term: the mean KL divergence of each of the `n =
    k + 1` distributions from their mixture. With one view it is
    `jensen_shannon_divergence`.

    Formula:

    ```
    m = (p_0 + p_1 + ... + p_k) / (k + 1)
    jsc = (KL(p_0 || m) + KL(p_1 || m) + ... + KL(p_k || m)) / (k + 1)
    ```

    In nats, in [0, log(k + 1)]. Probabilities and logits are read as
    described in `kl_divergence`.

    Args:
        clean: outputs on the clean input, shape `(..., classes)`.
        views: outputs on `k` perturbed copies, stacked on a new first axis:
            shape `(k, ..., classes)`.
        from_logits: whether the outputs are logits. Defaults to `False`.

    Returns:
        The divergence per sample, shape `clean.shape[:-1]`.

    Example:

    >>> import numpy as np
    >>> p = np.array([[1.0, 0.0, 0.0]])
    >>> views = np.array([[[0.0, 1.0, 0.0]], [[0.0, 0.0, 1.0]]])
    >>> round(float(jensen_shannon_consistency(p, views)[0]), 4)  # log 3
    1.0986

    Reference:
        Hendrycks et al. AugMix: A Simple Data Processing Method to Improve
        Robustness and Uncertainty. ICLR 2020.
    """
    clean, views = ops.convert_to_tensor(clean), ops.convert_to_tensor(views)
    if len(views.shape) != len(clean.shape) + 1:
        raise ValueError(
            "`views` must stack the perturbed outputs on a new first axis: "
            f"shape (k, *clean.shape). Received: views.shape={tuple(views.shape)} "
            f"for clean.shape={tuple(clean.shape)}"
        )
    for view in ops.unstack(views, axis=0):
        check_same_shape(clean=clean, perturbed=view)
    outputs = ops.concatenate([ops.expand_dims(clean, 0), views], axis=0)
    log_each = log_distribution(outputs, from_logits)
    each = _distribution(outputs, log_each, from_logits)
    count = ops.cast(ops.shape(outputs)[0], log_each.dtype)
    if from_logits:
        # As in `jensen_shannon_divergence`: where every probability of a
        # class is 0, log m is never used and 0 stands in for it.
        unused = ops.all(ops.equal(each, 0), axis=0, keepdims=True)
        safe = ops.where(unused, ops.zeros_like(log_each), log_each)
        log_m = ops.logsumexp(safe, axis=0) - ops.log(count)
    else:
        log_m = log_distribution(ops.mean(each, axis=0), from_logits=False)
    return ops.mean(_expectation(each, log_each - log_m), axis=0)


def squared_l2_distance(clean, perturbed):
    """Squared Euclidean distance between clean and perturbed outputs.

    Formula:

    ```
    d = sum_j (f(x)_j - f(x')_j) ** 2
    ```

    A squared distance above the largest float32, about 3.4e38 (outputs
    about 1.8e19 apart), is not representable and comes back as `inf`.

    Args:
        clean: outputs (e.g. embeddings) on the clean input, `(..., dim)`.
        perturbed: outputs on the perturbed input, same shape.

    Returns:
        The squared distance per sample, shape `clean.shape[:-1]`.

    Example:

    >>> import numpy as np
    >>> clean, perturbed = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])
    >>> float(squared_l2_distance(clean, perturbed)[0])
    25.0
    """
    clean, perturbed = _pair(clean, perturbed)
    return ops.sum(ops.square(clean - perturbed), axis=-1)


def l2_distance(clean, perturbed):
    """Euclidean distance ||f(x) - f(x')||_2, the paper's embedding term.

    Formula:

    ```
    d = sqrt(sum_j (f(x)_j - f(x')_j) ** 2)
    ```

    The gradient of the square root at zero distance is taken as zero (not
    NaN), so a perturbation that leaves an output unchanged trains safely.
    Rows with entries above 2**50 in magnitude are divided by a power of two
    before squaring and the distance multiplied back, exactly, so that it
    stays finite wherever it fits float32 (outputs of 1e20, say).

    Args:
        clean: outputs (e.g. embeddings) on the clean input, `(..., dim)`.
        perturbed: outputs on the perturbed input, same shape.

    Returns:
        The distance per sample, shape `clean.shape[:-1]`.

    Example:

    >>> import numpy as np
    >>> clean, perturbed = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])
    >>> float(l2_distance(clean, perturbed)[0])
    5.0

    Reference:
        Zheng, Song, Leung, Goodfellow. Improving the Robustness of Deep
        Neural Networks via Stability Training. CVPR 2016.
    """
    clean, perturbed = _pair(clean, perturbed)
    # A power of two per row, 1 for ordinary outputs: see `overflow_scale`.
    scale = overflow_scale([clean, perturbed], axis=-1)
    squared = squared_l2_distance(clean / scale, perturbed / scale)
    distance = safe_sqrt(squared, ops.less_equal(squared, 0.0))
    return distance * ops.squeeze(scale, axis=-1)


class _StabilityLoss(keras.losses.Loss):
    """A `keras.losses.Loss` over (clean, perturbed) outputs."""

    def __init__(self, fn, name, reduction, dtype, **kwargs):
        super().__init__(name=name, reduction=reduction, dtype=dtype, **kwargs)
        self._fn = fn

    def call(self, y_true, y_pred):
        return self._fn(y_true, y_pred)

    def get_config(self):
        return {**super().get_config(), "dtype": self.dtype}


class _ProbabilisticLoss(_StabilityLoss):
    def __init__(self, fn, from_logits, name, reduction, dtype, **kwargs):
        self.from_logits = check_bool(from_logits, "from_logits")
        super().__init__(fn, name=name, reduction=reduction, dtype=dtype, **kwargs)

    def call(self, y_true, y_pred):
        return self._fn(y_true, y_pred, from_logits=self.from_logits)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


@keras.saving.register_keras_serializable(package="keras_stability")
class KLDivergence(_ProbabilisticLoss):
    """KL(P(y|x) || P(y|x')): the default classification stability term.

    Call it as `loss(clean_outputs, perturbed_outputs, sample_weight)`: the
    clean distribution comes first. See `kl_divergence` for the formula, for
    probabilities against logits, and for the numerics.

    Args:
        from_logits: whether the outputs are logits. Defaults to `False`.
        reduction: as in `keras.losses.Loss`. Defaults to
            `"sum_over_batch_size"`.
        name: Defaults to `"kl_divergence"`.
        dtype: the dtype the loss is computed in. Defaults to `None`
            (`keras.config.floatx()`, float32 also under mixed precision).
        **kwargs: passed to `keras.losses.Loss`.

    Example:

    >>> import numpy as np
    >>> loss = KLDivergence(from_logits=True)
    >>> clean = np.array([[2.0, 0.0, -1.0]])
    >>> float(loss(clean, clean))
    0.0

    Reference:
        Zheng, Song, Leung, Goodfellow. Improving the Robustness of Deep
        Neural Networks via Stability Training. CVPR 2016.
    """

    def __init__(
        self,
        from_logits=False,
        reduction="sum_over_batch_size",
        name="kl_divergence",
        dtype=None,
        **kwargs,
    ):
        super().__init__(kl_divergence, from_logits, name, reduction, dtype, **kwargs)


@keras.saving.register_keras_serializable(package="keras_stability")
class CrossEntropy(_ProbabilisticLoss):
    """The paper's written form, -sum_j P(y_j|x) log P(y_j|x').

    Equals `KLDivergence` plus the entropy of the clean prediction; see
    `cross_entropy`, and `kl_divergence` for probabilities against logits.
    Call it as `loss(clean_outputs, perturbed_outputs)`.

    Args:
        from_logits: whether the outputs are logits. Defaults to `False`.
        reduction: as in `keras.losses.Loss`. Defaults to
            `"sum_over_batch_size"`.
        name: Defaults to `"cross_entropy"`.
        dtype: the dtype the loss is computed in. Defaults to `None`.
        **kwargs: passed to `keras.losses.Loss`.

    Example:

    >>> import numpy as np
    >>> loss = CrossEntropy()
    >>> p = np.array([[0.5, 0.5]])
    >>> round(float(loss(p, p)), 4)  # the entropy of p: log 2
    0.6931

    Reference:
        Zheng, Song, Leung, Goodfellow. Improving the Robustness of Deep
        Neural Networks via Stability Training. CVPR 2016.
    """

    def __init__(
        self,
        from_logits=False,
        reduction="sum_over_batch_size",
        name="cross_entropy",
        dtype=None,
        **kwargs,
    ):
        super().__init__(cross_entropy, from_logits, name, reduction, dtype, **kwargs)


@keras.saving.register_keras_serializable(package="keras_stability")
class JensenShannonDivergence(_ProbabilisticLoss):
    """Symmetric Jensen-Shannon divergence, as in AugMix's consistency loss.

    See `jensen_shannon_divergence`, and `kl_divergence` for probabilities
    against logits. Call it as `loss(clean_outputs, perturbed_outputs)`; the
    order does not matter.

    Called on `(clean, views)` with `views` of shape `(k, *clean.shape)`,
    it is `jensen_shannon_consistency`, the term `StabilityModel(...,
    num_views=k)` uses.

    Args:
        from_logits: whether the outputs are logits. Defaults to `False`.
        reduction: as in `keras.losses.Loss`. Defaults to
            `"sum_over_batch_size"`.
        name: Defaults to `"jensen_shannon_divergence"`.
        dtype: the dtype the loss is computed in. Defaults to `None`.
        **kwargs: passed to `keras.losses.Loss`.

    Example:

    >>> import numpy as np
    >>> loss = JensenShannonDivergence()
    >>> p, q = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    >>> round(float(loss(p, q)), 4)  # disjoint supports: log 2
    0.6931

    Reference:
        Hendrycks et al. AugMix: A Simple Data Processing Method to Improve
        Robustness and Uncertainty. ICLR 2020.
    """

    # `StabilityModel` gives several views stacked, rather than one at a time.
    takes_stacked_views = True

    def __init__(
        self,
        from_logits=False,
        reduction="sum_over_batch_size",
        name="jensen_shannon_divergence",
        dtype=None,
        **kwargs,
    ):
        super().__init__(
            jensen_shannon_divergence, from_logits, name, reduction, dtype, **kwargs
        )

    def call(self, y_true, y_pred):
        # Several views stacked on a new first axis: AugMix's k-view form.
        if len(y_pred.shape) == len(y_true.shape) + 1:
            return jensen_shannon_consistency(
                y_true, y_pred, from_logits=self.from_logits
            )
        return super().call(y_true, y_pred)


@keras.saving.register_keras_serializable(package="keras_stability")
class L2Distance(_StabilityLoss):
    """||f(x) - f(x')||_2: the paper's stability term for embeddings.

    See `l2_distance`. Call it as `loss(clean_outputs, perturbed_outputs)`.

    Args:
        reduction: as in `keras.losses.Loss`. Defaults to
            `"sum_over_batch_size"`.
        name: Defaults to `"l2_distance"`.
        dtype: the dtype the loss is computed in. Defaults to `None`.
        **kwargs: passed to `keras.losses.Loss`.

    Example:

    >>> import numpy as np
    >>> loss = L2Distance()
    >>> float(loss(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])))
    5.0

    Reference:
        Zheng, Song, Leung, Goodfellow. Improving the Robustness of Deep
        Neural Networks via Stability Training. CVPR 2016.
    """

    def __init__(
        self,
        reduction="sum_over_batch_size",
        name="l2_distance",
        dtype=None,
        **kwargs,
    ):
        super().__init__(
            l2_distance, name=name, reduction=reduction, dtype=dtype, **kwargs
        )


@keras.saving.register_keras_serializable(package="keras_stability")
class SquaredL2Distance(_StabilityLoss):
    """||f(x) - f(x')||_2^2, a smooth variant of `L2Distance`.

    See `squared_l2_distance`.

    Args:
        reduction: as in `keras.losses.Loss`. Defaults to
            `"sum_over_batch_size"`.
        name: Defaults to `"squared_l2_distance"`.
        dtype: the dtype the loss is computed in. Defaults to `None`.
        **kwargs: passed to `keras.losses.Loss`.

    Example:

    >>> import numpy as np
    >>> loss = SquaredL2Distance()
    >>> float(loss(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])))
    25.0
    """

    def __init__(
        self,
        reduction="sum_over_batch_size",
        name="squared_l2_distance",
        dtype=None,
        **kwargs,
    ):
        super().__init__(
            squared_l2_distance, name=name, reduction=reduction, dtype=dtype, **kwargs
        )


_BY_NAME = {
    "kl": KLDivergence,
    "cross_entropy": CrossEntropy,
    "jsd": JensenShannonDivergence,
    "l2": L2Distance,
    "squared_l2": SquaredL2Distance,
}
# The names TensorFlow accepts for a root name scope.
_SCOPE_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-]*$")


def is_distribution_loss(loss):
    """Whether `loss` (an instance or a class) compares class distributions.

    `KLDivergence`, `CrossEntropy` and `JensenShannonDivergence` read their
    inputs as distributions over a class axis, from probabilities or, with
    `from_logits=True`, from logits.

    Args:
        loss: a loss instance or class.

    Returns:
        A bool.

    Example:

    >>> is_distribution_loss(KLDivergence), is_distribution_loss(L2Distance())
    (True, False)
    """
    cls = loss if isinstance(loss, type) else type(loss)
    return issubclass(cls, _ProbabilisticLoss)


def reads_probabilities(loss):
    """Whether `loss` reads outputs as probabilities (clipped or normalized).

    Ours without `from_logits`, and Keras's own `KLDivergence` (which has no
    `from_logits`) and `CategoricalCrossentropy(from_logits=False)`: a logits
    head given to any of them makes a meaningless term.

    Args:
        loss: a loss instance.

    Returns:
        A bool.

    Example:

    >>> reads_probabilities(KLDivergence()), reads_probabilities(CrossEntropy(True))
    (True, False)
    """
    if is_distribution_loss(loss) or isinstance(
        loss, keras.losses.CategoricalCrossentropy
    ):
        return not loss.from_logits
    return isinstance(loss, keras.losses.KLDivergence)


def get(identifier, from_logits=False):
    """Resolves a stability loss from a name, a `Loss`, or a callable.

    Args:
        identifier: one of `"kl"`, `"cross_entropy"`, `"jsd"`, `"l2"`,
            `"squared_l2"`; a `keras.losses.Loss` (used as is); or a callable
            `fn(clean, perturbed)` returning a per-sample loss, wrapped in
            a `keras.losses.Loss` so that it is reduced like a Keras loss.
            The wrapper is named after the function where its name is a
            valid TensorFlow name scope, else `"stability_loss"` (for a
            lambda, say).
        from_logits: passed to the distribution losses built from a name.
            Defaults to `False`.

    Returns:
        A `keras.losses.Loss`.

    Example:

    >>> import numpy as np
    >>> from keras import ops
    >>> from keras_stability import losses
    >>> type(losses.get("jsd")).__name__
    'JensenShannonDivergence'
    >>> loss = losses.get(lambda a, b: ops.max(ops.abs(a - b), axis=-1))
    >>> float(loss(np.array([[0.0, 1.0]]), np.array([[3.0, 5.0]])))
    4.0
    """
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(
                "`stability_loss` must be one of "
                f"{sorted(_BY_NAME)}, a keras.losses.Loss or a callable. "
                f"Received: stability_loss={identifier!r}"
            )
        cls = _BY_NAME[identifier]
        return cls(from_logits=from_logits) if is_distribution_loss(cls) else cls()
    if isinstance(identifier, keras.losses.Loss):
        return identifier
    if callable(identifier):
        # The name becomes a TensorFlow name scope, which `<lambda>` or
        # `_private` is not.
        name = getattr(identifier, "__name__", None)
        if not isinstance(name, str) or not _SCOPE_NAME.match(name):
            name = "stability_loss"
        return _StabilityLoss(
            identifier, name=name, reduction="sum_over_batch_size", dtype=None
        )
    raise ValueError(
        "`stability_loss` must be one of "
        f"{sorted(_BY_NAME)}, a keras.losses.Loss or a callable. "
        f"Received: stability_loss={identifier!r}"
    )
