"""Combinations of perturbations: `Compose` (in sequence) and `OneOf` (per image)."""

import math

import keras
import numpy as np
from keras import ops

from keras_stability._checks import is_number
from keras_stability.perturbations.apply import apply_perturbation
from keras_stability.perturbations.apply import check_perturbation
from keras_stability.perturbations.base import Perturbation
from keras_stability.perturbations.base import inside_combination

__all__ = ["Compose", "OneOf"]


def _validate_elements(perturbations):
    if not isinstance(perturbations, (list, tuple)) or not perturbations:
        raise ValueError(
            "`perturbations` must be a non-empty list of layers or callables. "
            f"Received: perturbations={perturbations!r}"
        )
    for index, element in enumerate(perturbations):
        check_perturbation(element, f"perturbations[{index}]")
    return list(perturbations)


class _Combination(Perturbation):
    """Shared plumbing of `Compose` and `OneOf`: elements and their seeds."""

    def __init__(self, perturbations, seed=None, **kwargs):
        if "value_range" in kwargs:
            # It would be stored and never used: each element has its own.
            raise ValueError(
                f"`{type(self).__name__}` takes no `value_range`: each element "
                "has its own, so give it to the elements. "
                f"Received: value_range={kwargs['value_range']!r}"
            )
        super().__init__(seed=seed, **kwargs)
        self.perturbations = _validate_elements(perturbations)
        # A libjpeg element runs outside XLA, so the combination does too.
        if not all(getattr(p, "supports_jit", True) for p in self.perturbations):
            self.supports_jit = False

    def build(self, input_shape):
        # Elements keep the shape, so each one builds on the input shape.
        # Without this, Keras would build by tracing `call` symbolically on
        # the first call, which uses up draws of the `seed` given to it.
        for element in self.perturbations:
            if isinstance(element, keras.layers.Layer) and not element.built:
                element.build(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        for element in self.perturbations:
            if isinstance(element, Perturbation):
                element.compute_output_shape(shape)
        return shape

    def _element_seed(self, seed):
        # An explicit seed drives every element; else this layer's generator
        # does if it was seeded; else each element uses its own generator.
        if seed is not None:
            return seed
        return self.seed_generator if self.seed is not None else None

    def _apply(self, element, images, seed):
        with inside_combination():
            perturbed = apply_perturbation(
                element, images, seed, name=f"{type(self).__name__} element"
            )
        return ops.cast(perturbed, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        del config["value_range"]
        config["perturbations"] = [
            keras.saving.serialize_keras_object(element)
            for element in self.perturbations
        ]
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["perturbations"] = [
            keras.saving.deserialize_keras_object(element)
            for element in config["perturbations"]
        ]
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_stability")
class Compose(_Combination):
    """Applies several perturbations one after the other.

    The elements run in list order, each on the previous one's output. What
    this docstring says about elements, seeds and saving holds for `OneOf`
    too:

    - An element may be a `Perturbation` (called with `training` and
      `seed`), any other Keras layer (called with `training=True`), or a
      callable `f(x)` on the 4-D batch, as `apply_perturbation` applies
      them; it must keep the shape, and its output is cast to the compute
      dtype. With `training=False` the inputs come back unchanged and no
      element runs.
    - A `seed` given to the call is passed to every element (each of its
      draws is a distinct stream). Without one, a `seed` given to the
      combination drives all elements through its own generator, and with
      neither each element uses its own generator.
    - It takes no `value_range` (passing one is an error): each element has
      its own, and the combination checks its inputs against them.
    - It can be saved when its elements can: layers registered as
      serializable, or named functions registered with
      `keras.saving.register_keras_serializable`.

    Formula:

    ```
    x' = f_n(... f_2(f_1(x)))
    ```

    Args:
        perturbations: non-empty list of perturbations, Keras layers or
            callables, applied in order.
        seed: int in `[0, 2**31 - 1]` or `None`; when set, one generator
            seeded with it drives every element. Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Returns:
        Called on images, the perturbed images in the layer's compute dtype.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import Compose, GaussianNoise
    from keras_stability.perturbations import JpegCompression

    layer = Compose([JpegCompression(quality=50), GaussianNoise(0.02)], seed=1)
    images = np.random.default_rng(0).random((2, 32, 32, 3), dtype="float32")
    assert np.asarray(layer(images)).shape == (2, 32, 32, 3)
    ```
    """

    def input_value_ranges(self):
        """The first element's ranges: the others see its output, not ours."""
        first = self.perturbations[0]
        return first.input_value_ranges() if isinstance(first, Perturbation) else []

    def call(self, inputs, training=True, seed=None):
        if not training:
            return inputs
        images, single_image = self._to_batch(inputs, seed)
        seed = self._element_seed(seed)
        for element in self.perturbations:
            images = self._apply(element, images, seed)
        return images[0] if single_image else images


@keras.saving.register_keras_serializable(package="keras_stability")
class OneOf(_Combination):
    """Applies one perturbation per image, picked at random.

    Every image independently gets element `k` with probability
    `weights[k] / sum(weights)` (uniform by default), from one uniform draw
    per image. Each element runs on the whole batch and the outputs are
    merged per image with `where`, so the cost is that of running all of
    them, and every branch sees the same batch (a random element draws for
    every image, including those that do not keep its output). The choice
    uses the `seed` given to the call, else the layer's own generator.
    Elements, seeds, `value_range` and saving work as in `Compose`.

    Formula:

    ```
    x'_i = f_k(x)_i,  P(k) = weights[k] / sum(weights), drawn per image i
    ```

    Args:
        perturbations: non-empty list of perturbations, Keras layers or
            callables.
        weights: `None` or a list of non-negative numbers, one per element,
            with a positive sum: the relative odds of each element. Stored as
            `choice_weights`, since `Layer.weights` lists a layer's
            variables. Defaults to `None` (uniform).
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator, which picks the element of each image (and, as in
            `Compose`, drives the elements). Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Returns:
        Called on images, the perturbed images in the layer's compute dtype.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import GaussianNoise, OneOf
    from keras_stability.perturbations import ThumbnailResize

    layer = OneOf([GaussianNoise(0.04), ThumbnailResize(scale=0.5)],
                  weights=[3, 1], seed=1)
    images = np.random.default_rng(0).random((8, 32, 32, 3), dtype="float32")
    assert np.asarray(layer(images)).shape == (8, 32, 32, 3)
    ```
    """

    def __init__(self, perturbations, weights=None, seed=None, **kwargs):
        super().__init__(perturbations, seed=seed, **kwargs)
        if weights is not None:
            if isinstance(weights, np.ndarray) and weights.ndim == 1:
                weights = weights.tolist()
            if not isinstance(weights, (list, tuple)) or len(weights) != len(
                self.perturbations
            ):
                raise ValueError(
                    "`weights` must be a list with one entry per perturbation "
                    f"({len(self.perturbations)}). Received: weights={weights!r}"
                )
            if not all(is_number(w) and math.isfinite(w) and w >= 0 for w in weights):
                raise ValueError(
                    "`weights` must be non-negative numbers. "
                    f"Received: weights={weights!r}"
                )
            if sum(weights) <= 0:
                raise ValueError(
                    f"`weights` must have a positive sum. Received: weights={weights!r}"
                )
            weights = tuple(float(w) for w in weights)
        self.choice_weights = weights
        odds = np.ones(len(self.perturbations)) if weights is None else weights
        odds = np.asarray(odds, dtype=np.float64)
        # Scaled to a largest weight of 1, so the sum cannot overflow.
        cumulative = np.cumsum(odds / odds.max())
        # Image gets element k when u >= boundary k-1 and u < boundary k, for
        # u ~ U[0, 1). A zero weight repeats a boundary (its element is never
        # picked); trailing zero weights give boundaries of exactly 1.
        self._boundaries = (cumulative[:-1] / cumulative[-1]).astype(np.float32)

    def input_value_ranges(self):
        """Every element's ranges: each element perturbs the inputs."""
        ranges = []
        for element in self.perturbations:
            if isinstance(element, Perturbation):
                ranges.extend(
                    r for r in element.input_value_ranges() if r not in ranges
                )
        return ranges

    def call(self, inputs, training=True, seed=None):
        if not training:
            return inputs
        images, single_image = self._to_batch(inputs, seed)
        choice_seed = self.seed_generator if seed is None else seed
        element_seed = self._element_seed(seed)
        draws = keras.random.uniform(
            (ops.shape(images)[0], 1), dtype="float32", seed=choice_seed
        )
        choice = ops.sum(
            ops.cast(ops.greater_equal(draws, self._boundaries[None, :]), "int32"),
            axis=1,
        )
        choice = ops.reshape(choice, (-1, 1, 1, 1))
        outputs = None
        for index, element in enumerate(self.perturbations):
            branch = self._apply(element, images, element_seed)
            outputs = (
                branch
                if outputs is None
                else ops.where(ops.equal(choice, index), branch, outputs)
            )
        return outputs[0] if single_image else outputs

    def get_config(self):
        config = super().get_config()
        config["weights"] = self.choice_weights
        return config
