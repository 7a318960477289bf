"""`Adversarial`: the worst-case x' of TRADES, found by gradient ascent.

The layer attacks an objective that only the model can compute (the
stability term between the clean prediction and the prediction on the
perturbed copy), so the model hands it over with `attack_objective` around
the call; `needs_objective` tells the model whether its perturbation needs
one.
"""

import contextlib
import math
import threading

import keras
import numpy as np
from keras import ops

from keras_stability import _backend
from keras_stability._checks import FLOAT32_MAX
from keras_stability._checks import check_bool
from keras_stability._checks import check_choice
from keras_stability._checks import check_int
from keras_stability._checks import is_number
from keras_stability._seeds import portable_uniform
from keras_stability.perturbations.base import Perturbation
from keras_stability.perturbations.combinations import Compose
from keras_stability.perturbations.combinations import OneOf

__all__ = ["Adversarial", "attack_objective", "needs_objective"]

# The steps are unrolled into the traced step function, so their number
# bounds the size of the compiled graph.
MAX_STEPS = 100

NORMS = ("inf", "l2")

# Below it a per-image norm counts as zero: no direction to step in.
_TINY = np.float32(np.finfo(np.float32).tiny)

# The objectives that the `Adversarial` layers called on this thread attack,
# innermost last.
_OBJECTIVES = threading.local()


@contextlib.contextmanager
def attack_objective(fn):
    """Makes `fn` the objective of the `Adversarial` layers called inside.

    `StabilityModel` opens it around its perturbation in each training step
    when `needs_objective` says so; a custom training loop does the same.
    Scopes nest (the innermost wins) and belong to the thread that opened
    them.

    Args:
        fn: callable taking a float32 batch `(batch, height, width,
            channels)` shaped like the batch the layer perturbs, and
            returning a scalar float tensor that the attack increases. Rows
            must not interact (call the model with `training=False`, no
            batch statistics), so that the gradient of the scalar holds each
            image's own gradient. The model passes the stability term between
            its fixed clean prediction `f(x)` and `f(images)`.

    Raises:
        ValueError: if `fn` is not callable.

    Example:

    ```python
    import numpy as np
    from keras import ops
    from keras_stability.perturbations import Adversarial, attack_objective

    layer = Adversarial(epsilon=0.1, random_start=False)
    images = np.full((1, 2, 2, 1), 0.5, "float32")
    with attack_objective(lambda x: ops.sum(x)):
        attacked = np.asarray(layer(images))
    np.testing.assert_allclose(attacked, 0.6, rtol=1e-6)
    ```
    """
    if not callable(fn) or isinstance(fn, type):
        raise ValueError(
            "`fn` must be a callable returning the scalar to increase. "
            f"Received: fn={fn!r}"
        )
    stack = _OBJECTIVES.__dict__.setdefault("stack", [])
    stack.append(fn)
    try:
        yield fn
    finally:
        stack.pop()


def needs_objective(perturbation):
    """Whether `perturbation` needs an `attack_objective` around its call.

    True for an `Adversarial` layer and for a `Compose` or `OneOf` holding
    one at any depth; False for anything else, callables included.

    Args:
        perturbation: a perturbation, a Keras layer or a callable.

    Returns:
        A Python bool.

    Example:

    ```python
    from keras_stability.perturbations import Adversarial, Compose
    from keras_stability.perturbations import GaussianNoise, needs_objective

    assert needs_objective(Compose([GaussianNoise(0.02), Adversarial(0.01)]))
    assert not needs_objective(GaussianNoise(0.02))
    ```
    """
    if isinstance(perturbation, Adversarial):
        return True
    if isinstance(perturbation, (Compose, OneOf)):
        return any(needs_objective(p) for p in perturbation.perturbations)
    return False


def _current_objective(layer):
    stack = getattr(_OBJECTIVES, "stack", None)
    if not stack:
        raise ValueError(
            f"`{type(layer).__name__}` needs the model it attacks: use it as a "
            "`StabilityModel`'s perturbation, directly or inside `Compose` or "
            "`OneOf`, or call it inside "
            "`keras_stability.perturbations.attack_objective(fn)`."
        )
    return stack[-1]


def _check_positive(value, name, allow_none=False):
    if value is None and allow_none:
        return None
    if is_number(value) and math.isfinite(value) and 0 < value <= FLOAT32_MAX:
        return float(value)
    expected = "None or a number" if allow_none else "a number"
    raise ValueError(
        f"`{name}` must be {expected} > 0, finite in float32. "
        f"Received: {name}={value!r}"
    )


def _per_image_norm(x):
    return ops.sqrt(ops.sum(ops.square(x), axis=(1, 2, 3), keepdims=True))


def _unit_direction(gradient):
    """Each image's `g / ||g||_2`, zero where `g` is zero, without overflow."""
    largest = ops.max(ops.abs(gradient), axis=(1, 2, 3), keepdims=True)
    scaled = ops.divide(gradient, ops.maximum(largest, _TINY))
    return ops.divide(scaled, ops.maximum(_per_image_norm(scaled), _TINY))


def _project_l2(delta, radius):
    norm = _per_image_norm(delta)
    return ops.multiply(
        delta, ops.minimum(1.0, ops.divide(radius, ops.maximum(norm, _TINY)))
    )


@keras.saving.register_keras_serializable(package="keras_stability")
class Adversarial(Perturbation):
    """The worst-case x' within a ball around x: TRADES's perturbation.

    Instead of a random distortion, x' is the point of a small ball around
    the image that increases an objective most, found by projected gradient
    ascent (PGD; FGSM is `steps=1`). With the stability term between the
    clean prediction and the prediction on x' as the objective, stability
    training becomes TRADES (Zhang et al.), the adversarial regularization
    of Neural Structured Learning: the model learns to be stable where it
    is least stable. The objective comes from the model through
    `attack_objective`, which `StabilityModel` opens around this layer; a
    call outside one raises a `ValueError`.

    - `epsilon` and `step_size` are in units of the width of `value_range`,
      like `GaussianNoise`'s `stddev`: the bound in pixel units is
      `epsilon * (high - low)`. `norm="inf"` bounds every pixel's change,
      `norm="l2"` each image's Euclidean norm of the change.
    - The random start (`random_start=True`) is uniform in the ball: in the
      cube `[-eps, eps]` per pixel for `"inf"`; for `"l2"` a direction from
      normals (Box-Muller) and a radius `eps * u^(1/d)`, `d` the pixels of
      an image. It is drawn with `portable_uniform`, so a fixed seed gives
      the same start, and the same x', on TensorFlow, JAX and PyTorch (to
      float rounding). Without it the attack starts at x, where the gradient
      of a stability term vanishes.
    - A zero gradient leaves an image where it is (no NaN). The steps run
      in float32 whatever the compute dtype, and x' is returned in the
      compute dtype, cut from the graph: no gradient flows through the
      attack.
    - x' is clipped to `value_range` after every step, so it stays within
      `epsilon` of x where x lies in the range (noise added upstream without
      clipping may take x out of it; the clip brings it back).

    Formula:

    ```
    delta_0 ~ U(ball)  (or 0),   g_t = grad L(x + delta_t)
    "inf": delta_{t+1} = clip(delta_t + a * sign(g_t), -eps, eps)
    "l2":  delta_{t+1} = delta_t + a * g_t / ||g_t||_2, scaled into ||.||_2 <= eps
    and after each step  delta_{t+1} = clip(x + delta_{t+1}, low, high) - x
    x' = x + delta_steps,  eps = epsilon * (high - low),  a = step_size * (high - low)
    ```

    Args:
        epsilon: float > 0, the radius of the ball in units of the value
            range's width (`8 / 255` is the usual L-inf budget on `(0, 1)`
            images).
        steps: int in `[1, 100]`, the number of gradient steps, each a
            forward and a backward pass of the model; `1` is FGSM. Defaults
            to `1`.
        step_size: float > 0 or `None`, the length of each step in units of
            the value range's width. Defaults to `None`: `2.5 * epsilon /
            steps` (Madry et al.), which with `steps=1` and `norm="inf"`
            lands on the corner `eps * sign(g)` from any start.
        norm: `"inf"` or `"l2"`, the norm of the ball. Defaults to `"inf"`.
        random_start: bool, whether to start from a random point of the
            ball rather than from x. Defaults to `True`.
        value_range: pair `(low, high)`, the range of the pixel values.
            Defaults to `(0, 1)`.
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator, which draws the random start. Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Returns:
        Called on images inside `attack_objective`, x' in the layer's compute
        dtype.

    Example:

    ```python
    import numpy as np
    from keras import ops
    from keras_stability.perturbations import Adversarial, attack_objective

    w = np.linspace(-1, 1, 16, dtype="float32").reshape(1, 4, 4, 1)
    images = np.full((2, 4, 4, 1), 0.5, "float32")
    layer = Adversarial(epsilon=0.01, seed=1)
    # A linear objective: the worst L-inf step is epsilon * sign(w).
    with attack_objective(lambda x: ops.sum(ops.multiply(x, w))):
        attacked = np.asarray(layer(images))
    np.testing.assert_allclose(attacked - images, 0.01 * np.sign(w)[[0, 0]],
                               atol=1e-6)
    ```

    Reference:
        - [Zhang et al., "Theoretically Principled Trade-off between
          Robustness and Accuracy", ICML 2019](https://arxiv.org/abs/1901.08573)
        - [Madry et al., "Towards Deep Learning Models Resistant to
          Adversarial Attacks", ICLR 2018](https://arxiv.org/abs/1706.06083)
        - [Goodfellow et al., "Explaining and Harnessing Adversarial
          Examples", ICLR 2015](https://arxiv.org/abs/1412.6572)
    """

    def __init__(
        self,
        epsilon,
        steps=1,
        step_size=None,
        norm="inf",
        random_start=True,
        value_range=(0, 1),
        seed=None,
        **kwargs,
    ):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        self.epsilon = _check_positive(epsilon, "epsilon")
        self.steps = check_int(steps, "steps", 1, MAX_STEPS)
        self.step_size = _check_positive(step_size, "step_size", allow_none=True)
        check_choice("norm", norm, NORMS)
        self.norm = norm
        self.random_start = check_bool(random_start, "random_start")
        low, high = self.value_range
        for name, value in (("epsilon", self.epsilon), ("step_size", step_size)):
            if value is not None and value * (high - low) > FLOAT32_MAX:
                raise ValueError(
                    f"`{name}` times the width of `value_range` must be finite "
                    f"in float32. Received: {name}={value!r}, "
                    f"value_range={value_range!r}"
                )

    def perturb(self, images, seed):
        objective = _current_objective(self)
        low, high = self.value_range
        radius = np.float32(self.epsilon * (high - low))
        step_size = self.step_size
        if step_size is None:
            step_size = 2.5 * self.epsilon / self.steps
        step = np.float32(step_size * (high - low))
        x = ops.cast(images, "float32")
        delta = self._start(x, radius, seed)
        delta = ops.subtract(ops.clip(ops.add(x, delta), low, high), x)
        for _ in range(self.steps):
            gradient = _backend.input_gradient(objective, ops.add(x, delta))
            if self.norm == "inf":
                delta = ops.add(delta, ops.multiply(step, ops.sign(gradient)))
                delta = ops.clip(delta, -radius, radius)
            else:
                delta = ops.add(delta, ops.multiply(step, _unit_direction(gradient)))
                delta = _project_l2(delta, radius)
            delta = ops.subtract(ops.clip(ops.add(x, delta), low, high), x)
        attacked = ops.stop_gradient(ops.clip(ops.add(x, delta), low, high))
        return ops.cast(attacked, self.compute_dtype)

    def _start(self, x, radius, seed):
        """The random start delta_0 (zeros without `random_start`)."""
        if not self.random_start:
            return ops.zeros_like(x)
        shape = ops.shape(x)
        if self.norm == "inf":
            uniform = portable_uniform(shape, seed)
            return ops.multiply(radius, ops.subtract(ops.multiply(2.0, uniform), 1.0))
        # Box-Muller normals (1 - u is in (0, 1]: no log of zero), normalized
        # per image, scaled to a radius that is uniform in the ball's volume.
        first = ops.subtract(1.0, portable_uniform(shape, seed))
        second = portable_uniform(shape, seed)
        normals = ops.multiply(
            ops.sqrt(ops.multiply(-2.0, ops.log(first))),
            ops.cos(ops.multiply(np.float32(2 * np.pi), second)),
        )
        pixels = ops.sum(ops.ones_like(x[0]))
        fraction = portable_uniform((shape[0], 1, 1, 1), seed)
        scale = ops.multiply(radius, ops.power(fraction, ops.divide(1.0, pixels)))
        return ops.multiply(scale, _unit_direction(normals))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "epsilon": self.epsilon,
                "steps": self.steps,
                "step_size": self.step_size,
                "norm": self.norm,
                "random_start": self.random_start,
            }
        )
        return config
