"""The `Perturbation` base class: batching, dtypes, seeds and the value range."""

import contextlib
import math
import threading

import keras
from keras import ops

from keras_stability import _backend
from keras_stability._checks import FLOAT32_MAX
from keras_stability._checks import allowed_range
from keras_stability._checks import check_int
from keras_stability._checks import is_number
from keras_stability._checks import value_range_error
from keras_stability._seeds import MAX_SEED

__all__ = ["Perturbation"]


def check_value_range(value_range):
    """`value_range` as a tuple `(low, high)`, or a `ValueError`.

    The width `high - low` scales every distortion, in float32, so it must be
    finite there.
    """
    if (
        isinstance(value_range, (list, tuple))
        and len(value_range) == 2
        and all(is_number(v) and math.isfinite(v) for v in value_range)
        and value_range[0] < value_range[1]
        and value_range[1] - value_range[0] <= FLOAT32_MAX
    ):
        return tuple(value_range)
    raise ValueError(
        "`value_range` must be a pair (low, high) with low < high and a width "
        f"high - low finite in float32 (at most {FLOAT32_MAX}). "
        f"Received: value_range={value_range!r}"
    )


# How many combinations (`Compose`, `OneOf`) are applying their elements on
# this thread: their elements receive images the combination has already
# checked, or has already perturbed (noise may leave the range).
_NESTING = threading.local()


@contextlib.contextmanager
def inside_combination():
    """While open, perturbations called on this thread skip the range check."""
    _NESTING.depth = getattr(_NESTING, "depth", 0) + 1
    try:
        yield
    finally:
        _NESTING.depth -= 1


@keras.saving.register_keras_serializable(package="keras_stability")
class Perturbation(keras.layers.Layer):
    """Base class of the perturbations: a random map from images to images.

    Subclasses implement `perturb(images, seed)`, which gets a 4-D batch
    `(batch, height, width, channels)` already cast to the layer's compute
    dtype and returns a batch of the same shape in that dtype. This class
    does the rest, for every perturbation of this package:

    - `training=False` returns the inputs unchanged (the very same object, in
      its own dtype), so a perturbation inside a model is inert at inference.
    - A single image `(height, width, channels)` is treated as a batch of one
      and returned as a single image, so the layer can be mapped over an
      unbatched `tf.data.Dataset`. Other ranks raise a `ValueError`.
    - Outputs are in the compute dtype (`float32` by default, `float16` or
      `bfloat16` under a mixed precision policy), also for `uint8` inputs.
    - `seed` given to the call (a `keras.random.SeedGenerator`, including a
      `StepSeed`) takes the place of the layer's own generator; it goes
      straight to every `keras.random` call as `seed=`.
    - Images outside `value_range` are refused (`check_images`): 0..255
      images given to a layer built for `(0, 1)` would silently come out
      wrong. Nothing is clipped to `value_range` unless the distortion
      itself clips.

    Severities given as a pair `(a, b)` (`GaussianNoise(stddev=...)`,
    `JpegCompression(quality=...)`, `RandomCropOffset(max_offset=...)`,
    `ThumbnailResize(scale=...)`) draw one severity per image, uniformly in
    `[a, b]` (integers for `quality` and `max_offset`): mild and strong
    distortions in the same batch. A pair `(a, a)` gives what the single
    value `a` gives, to float rounding.

    Args:
        value_range: pair `(low, high)` with `low < high` and `high - low`
            finite in float32: the range the pixel values live in, e.g.
            `(0, 1)` or `(0, 255)` (what
            `keras.utils.image_dataset_from_directory` yields). Defaults to
            `(0, 1)`.
        seed: int in `[0, 2**31 - 1]` (the range every backend's
            `keras.random.SeedGenerator` takes) or `None`, the seed of the
            layer's own `keras.random.SeedGenerator`. Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`, e.g. `name` or `dtype`.

    Example:

    ```python
    import keras
    import numpy as np
    from keras_stability.perturbations import Perturbation

    class Invert(Perturbation):
        def perturb(self, images, seed):
            low, high = self.value_range
            return (high + low) - images

    images = np.zeros((2, 4, 4, 1), dtype="float32")
    assert np.all(keras.ops.convert_to_numpy(Invert()(images)) == 1.0)
    ```

    Reference:
        - [Zheng et al., "Improving the Robustness of Deep Neural Networks via
          Stability Training", CVPR 2016](https://arxiv.org/abs/1604.04326)
    """

    def __init__(self, value_range=(0, 1), seed=None, **kwargs):
        super().__init__(**kwargs)
        self.value_range = check_value_range(value_range)
        self.seed = check_int(seed, "seed", 0, MAX_SEED, allow_none=True)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def call(self, inputs, training=True, seed=None):
        if not training:
            return inputs
        images, single_image = self._to_batch(inputs, seed)
        outputs = self.perturb(images, self.seed_generator if seed is None else seed)
        return outputs[0] if single_image else outputs

    def perturb(self, images, seed):
        """Returns the perturbed batch; `seed` goes to every `keras.random` call.

        Args:
            images: tensor `(batch, height, width, channels)` in the compute
                dtype, values in `value_range`.
            seed: a `keras.random.SeedGenerator` (possibly a `StepSeed`).

        Returns:
            A tensor of the same shape in the compute dtype.
        """
        raise NotImplementedError(
            f"`{type(self).__name__}` must implement `perturb(images, seed)`."
        )

    def compute_output_shape(self, input_shape):
        """The input shape, after checking that this layer can perturb it.

        `StabilityModel` calls it on each of its inputs' shapes, so a
        perturbation that cannot apply fails at construction rather than in
        the first training step. Subclasses with further needs (a crop
        smaller than the image, JPEG's channel count) check them here too;
        dimensions that are `None` pass.

        Raises:
            ValueError: if the shape is not that of one image or a batch.
        """
        shape = tuple(input_shape)
        if len(shape) not in (3, 4):
            raise ValueError(
                f"`{type(self).__name__}` expects a batch of images (batch, "
                "height, width, channels) or one image (height, width, "
                f"channels). Received: inputs.shape={shape}"
            )
        return shape

    def get_config(self):
        config = super().get_config()
        config.update({"value_range": self.value_range, "seed": self.seed})
        return config

    def input_value_ranges(self):
        """The value ranges this layer's inputs must lie in: `[value_range]`."""
        return [self.value_range]

    def check_images(self, images):
        """Refuses images with values outside the layer's `value_range`.

        Values up to a tenth of the range's width outside it pass
        (resampling overshoot, noise added upstream); anything further, such
        as 0..255 images given to a layer built for `(0, 1)`, raises. Every
        call of the layer runs this check on its inputs (a combination
        checks for its elements). Concrete values (NumPy, eager TensorFlow,
        PyTorch, JAX outside `jit`) raise a `ValueError` at once; inside a
        `tf.function` or a `tf.data` map the check is a TensorFlow assertion
        (an `InvalidArgumentError` when it runs; XLA drops it); inside JAX's
        `jit` values cannot be checked, which is why `StabilityModel`
        checks the training data before `fit`.

        Args:
            images: a batch or a single image.

        Raises:
            ValueError: if concrete `images` hold values outside the range,
                naming the range, the values seen and the fix.
        """
        ranges = self.input_value_ranges()
        if not ranges or not hasattr(images, "dtype"):
            return
        values = ops.cast(images, "float32")
        low, high = ops.min(values), ops.max(values)
        # The extremes of captured constants are traced too, so they, not
        # the images, say whether there are values to look at.
        if _backend.is_concrete(low):
            low = float(ops.convert_to_numpy(low))
            high = float(ops.convert_to_numpy(high))
            for value_range in ranges:
                error = value_range_error(
                    low, high, value_range, f"`{type(self).__name__}`"
                )
                if error is not None:
                    raise error
            return
        if not _backend.is_tensorflow():
            return
        inside = True
        for value_range in ranges:
            allowed_low, allowed_high = allowed_range(value_range)
            inside = ops.logical_and(
                inside,
                ops.logical_and(
                    ops.greater_equal(low, allowed_low),
                    ops.less_equal(high, allowed_high),
                ),
            )
        _backend.assert_in_graph(
            inside,
            f"The images given to `{type(self).__name__}` hold values outside "
            f"its value ranges {ranges} (a tenth of the width allowed): pass "
            "the images' range as `value_range` where the perturbation is "
            "built, e.g. value_range=(0, 255) for 8-bit levels.",
        )

    def _to_batch(self, inputs, seed):
        """A 4-D batch in the compute dtype, and whether `inputs` was one image.

        Also checks the `seed` given to the call (`keras.random` would take
        an int on some backends and not on others) and, unless a combination
        is applying this layer, the range of the values.
        """
        if seed is not None and not isinstance(seed, keras.random.SeedGenerator):
            raise ValueError(
                "The `seed` of a call must be a `keras.random.SeedGenerator` "
                "(such as a `StepSeed`) or None; give an int seed to the "
                f"constructor instead, e.g. `{type(self).__name__}(seed=3)`. "
                f"Received: seed={seed!r}"
            )
        shape = self.compute_output_shape(inputs.shape)
        if getattr(_NESTING, "depth", 0) == 0:
            self.check_images(inputs)
        images = ops.cast(inputs, self.compute_dtype)
        if len(shape) == 3:
            return ops.expand_dims(images, 0), True
        return images, False
