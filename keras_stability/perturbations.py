"""Perturbations: the x' of stability training and the paper's distortions.

Every perturbation is a Keras layer that takes a batch `(batch, height, width,
channels)` or a single image `(height, width, channels)` with values in
`value_range`, and returns a perturbed copy of the same shape in the layer's
compute dtype. Randomness comes from `keras.random` with the layer's own
`keras.random.SeedGenerator`, or from the `seed` given to the call (a
`SeedGenerator` or a `keras_stability._seeds.StepSeed`), which is how
`StabilityModel` draws a fresh, replayable x' at every step.
"""

import contextlib
import math
import threading

import keras
import numpy as np
from keras import ops

from keras_stability import _backend
from keras_stability import jpeg as jpeg_lib
from keras_stability._checks import FLOAT32_MAX
from keras_stability._checks import allowed_range
from keras_stability._checks import check_bool
from keras_stability._checks import check_int
from keras_stability._checks import check_jpeg_channels
from keras_stability._checks import check_jpeg_quality
from keras_stability._checks import check_non_negative
from keras_stability._checks import check_size
from keras_stability._checks import is_int
from keras_stability._checks import is_number
from keras_stability._checks import value_range_error
from keras_stability._seeds import MAX_SEED

__all__ = [
    "Compose",
    "GaussianNoise",
    "JpegCompression",
    "OneOf",
    "Perturbation",
    "RandomCropOffset",
    "ThumbnailResize",
    "apply_perturbation",
    "check_fits",
    "check_perturbation",
    "default_perturbation",
]


def _validate_value_range(value_range):
    # The width `high - low` scales every distortion, in float32.
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


def _static_height_width(images, layer):
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise ValueError(
            f"`{type(layer).__name__}` needs the image height and width to be "
            f"known when it is called. Received: inputs.shape={images.shape}"
        )
    return int(height), int(width)


# How many combinations (`Compose`, `OneOf`) are applying their elements on
# this thread: their elements receive images the combination has already
# checked, or has already perturbed (noise may leave the range).
_NESTING = threading.local()


@contextlib.contextmanager
def _inside_combination():
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
    dtype and returns a batch of the same shape. This class does the rest:

    - `training=False` returns the inputs unchanged (the very same object, in
      its own dtype), so a perturbation inside a model is inert at inference.
    - A single image `(height, width, channels)` is treated as a batch of one
      and returned as a single image, so the layer can be mapped over an
      unbatched `tf.data.Dataset`. Other ranks raise a `ValueError`.
    - Outputs are in the compute dtype (`float32` by default), also for
      `uint8` inputs.
    - `seed` given to the call (a `keras.random.SeedGenerator`, including a
      `StepSeed`) takes the place of the layer's own generator; it goes
      straight to every `keras.random` call as `seed=`.

    Nothing is clipped to `value_range` unless the distortion itself clips.
    Images outside `value_range` are refused (`check_images`): 0..255 images
    given to a layer built for `(0, 1)` would silently come out wrong.

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
    """

    def __init__(self, value_range=(0, 1), seed=None, **kwargs):
        super().__init__(**kwargs)
        self.value_range = _validate_value_range(value_range)
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


def check_perturbation(perturbation, name="perturbation"):
    """Returns `perturbation` if it can perturb: a layer or a callable.

    Args:
        perturbation: the value to check.
        name: how errors name the argument. Defaults to `"perturbation"`.

    Returns:
        `perturbation`, unchanged.

    Raises:
        ValueError: for a class (rather than an instance) or a value that
            cannot be called.
    """
    if not callable(perturbation) or isinstance(perturbation, type):
        raise ValueError(
            f"`{name}` must be a layer or a callable (an instance, not a "
            f"class). Received: {name}={perturbation!r}"
        )
    return perturbation


def check_fits(perturbation, shape, name="perturbation"):
    """Refuses, before any work, a perturbation that cannot apply to `shape`.

    A `Perturbation` checks what it needs in `compute_output_shape` (a crop
    smaller than the image, a thumbnail no larger, JPEG's channels); other
    layers and callables, and an unknown `shape` (`None`), pass.

    Args:
        perturbation: a `Perturbation`, any Keras layer or a callable.
        shape: the shape of the batches it will receive, or `None`.
        name: how errors name the perturbation. Defaults to
            `"perturbation"`.

    Raises:
        ValueError: naming `name` and `shape`, with the layer's reason.
    """
    check_perturbation(perturbation, name)
    if shape is None or not isinstance(perturbation, Perturbation):
        return
    try:
        perturbation.compute_output_shape(tuple(shape))
    except ValueError as error:
        raise ValueError(
            f"`{name}` cannot apply to images of shape {tuple(shape)}: {error}"
        ) from error


def apply_perturbation(perturbation, inputs, seed=None, name="perturbation"):
    """Applies a perturbation, a Keras layer or a callable to a batch.

    The one way this library perturbs: the training step, the `tf.data`
    copies, the combinations and the evaluation all call it. A
    `Perturbation` is applied to every tensor of `inputs` (a tensor or a
    structure of them) with `seed`; another Keras layer is called on
    `inputs` with `training=True`; a callable is called on `inputs`.

    Args:
        perturbation: a `Perturbation`, any Keras layer or a callable.
        inputs: a batch, or a structure (dict, list) of batches.
        seed: a `keras.random.SeedGenerator` (including a `StepSeed`) that a
            `Perturbation` draws from instead of its own generator; ignored
            for other layers and callables. Defaults to `None`.
        name: how errors name the perturbation. Defaults to
            `"perturbation"`.

    Returns:
        The perturbed copy, the same structure and shapes as `inputs`.

    Raises:
        ValueError: if the copy is not tensors of the inputs' shapes.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import GaussianNoise
    from keras_stability.perturbations import apply_perturbation

    images = np.full((2, 4, 4, 1), 0.5, "float32")
    noisy = apply_perturbation(GaussianNoise(0.1, seed=0), images)
    flipped = apply_perturbation(lambda x: x[:, ::-1], images)
    assert noisy.shape == flipped.shape == images.shape
    ```
    """
    if isinstance(perturbation, Perturbation):
        perturbed = keras.tree.map_structure(
            lambda t: perturbation(t, training=True, seed=seed), inputs
        )
    elif isinstance(perturbation, keras.layers.Layer):
        perturbed = perturbation(inputs, training=True)
    else:
        perturbed = check_perturbation(perturbation, name)(inputs)
    clean = keras.tree.flatten(inputs)
    copies = keras.tree.flatten(perturbed)
    if hasattr(inputs, "shape") and not hasattr(perturbed, "shape"):
        copies = [perturbed]
    if not all(hasattr(t, "shape") for t in copies):
        kinds = ", ".join(type(t).__name__ for t in copies)
        raise ValueError(
            f"`{name}` must return tensors or arrays of images; it returned "
            f"{kinds}. Received: {name}={perturbation!r}"
        )
    clean_shapes = [tuple(t.shape) for t in clean]
    copy_shapes = [tuple(t.shape) for t in copies]
    if clean_shapes != copy_shapes:
        raise ValueError(
            f"`{name}` must keep the inputs' shapes: it turned {clean_shapes} "
            f"into {copy_shapes}. Received: {name}={perturbation!r}"
        )
    return perturbed


def _normal(shape, stddev, dtype, seed):
    """`keras.random.normal(shape, stddev=stddev, dtype=dtype, seed=seed)`, Philox on TF.

    `keras.random.normal` leaves TensorFlow's algorithm to "auto_select",
    which XLA compiles for a CPU into a program 27 times slower than the
    one for Philox named explicitly (89 ms against 3.3 ms for 128x32x32x3
    on 2 cores; a noise stability step at 1.54x the floor), for the same
    draws. Outside XLA both are the Philox kernel. The seed is cast as
    Keras casts it, so the draws are `keras.random.normal`'s either way.
    """
    if keras.backend.backend() != "tensorflow":
        return keras.random.normal(shape, stddev=stddev, dtype=dtype, seed=seed)
    import tensorflow as tf

    pair = seed.next()
    if pair.dtype != tf.int32:
        pair = tf.cast(tf.math.floormod(pair, tf.int32.max - 1), tf.int32)
    return tf.random.stateless_normal(
        shape, pair, stddev=stddev, dtype=dtype, alg="philox"
    )


_MAX_NOISE_SCALE = FLOAT32_MAX / 16


def _check_severity(value, name, check):
    """A severity or a pair `(a, b)`, `a <= b`, to draw one per image.

    `check(value, name)` validates one number and returns it as a float.
    Returns a float or a tuple of two floats.
    """
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and all(is_number(v) for v in value):
            pair = (check(value[0], name), check(value[1], name))
            if pair[0] <= pair[1]:
                return pair
        raise ValueError(
            f"`{name}` must be a number or a pair (a, b) of numbers with a <= b. "
            f"Received: {name}={value!r}"
        )
    return check(value, name)


def _strongest(severity):
    """The largest value of a severity or a pair of them."""
    return max(severity) if isinstance(severity, tuple) else severity


def _per_image_uniform(images, bounds, seed):
    """One draw per image from `U[a, b]`, shaped `(batch, 1, 1, 1)`."""
    a, b = bounds
    return keras.random.uniform(
        (ops.shape(images)[0], 1, 1, 1), a, b, dtype=images.dtype, seed=seed
    )


@keras.saving.register_keras_serializable(package="keras_stability")
class GaussianNoise(Perturbation):
    """Adds i.i.d. Gaussian noise to every pixel: the paper's training x'.

    Each output value is `x + stddev * (high - low) * n` with `n ~ N(0, 1)`
    drawn independently per pixel and channel, so `stddev` is in units of the
    width of `value_range` (`stddev=0.04` is 0.04 on `(0, 1)` and 10.2 on
    `(0, 255)`). With a pair `stddev=(a, b)` every image gets its own
    standard deviation, drawn uniformly from `[a, b]`: mild and strong noise
    in the same batch. As in the paper the result is not clipped, so it can leave
    `value_range`; pass `clip=True` to clip it back.

    Formula:

    ```
    x' = x + eps,  eps ~ N(0, (stddev * (high - low))^2)
    ```

    Args:
        stddev: float >= 0, or a pair `(a, b)` of them with `a <= b` to draw
            one per image: the noise standard deviation as a fraction of
            the value range's width, with `stddev * (high - low)` at most
            float32's largest / 16 so that the noise stays finite. Defaults
            to `0.04`, the value public reproductions use on `[0, 1]` images.
        clip: bool, whether to clip the result to `value_range`. Defaults to
            `False`.
        value_range: pair `(low, high)`, the range of the pixel values.
            Defaults to `(0, 1)`.
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator. Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import GaussianNoise

    layer = GaussianNoise(stddev=0.04, seed=1)
    images = np.full((2, 32, 32, 3), 0.5, dtype="float32")
    noisy = np.asarray(layer(images))
    assert noisy.shape == (2, 32, 32, 3)
    assert abs(float(np.std(noisy - images)) - 0.04) < 0.005
    ```

    Reference:
        - [Zheng et al., "Improving the Robustness of Deep Neural Networks via
          Stability Training", CVPR 2016](https://arxiv.org/abs/1604.04326)
    """

    def __init__(
        self, stddev=0.04, clip=False, value_range=(0, 1), seed=None, **kwargs
    ):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        stddev = _check_severity(stddev, "stddev", check_non_negative)
        low, high = self.value_range
        # Draws of N(0, 1) in float32 stay below 8 in magnitude; this keeps
        # the noise, and the pixels it is added to, finite in float32.
        if _strongest(stddev) * (high - low) > _MAX_NOISE_SCALE:
            raise ValueError(
                "`stddev` times the width of `value_range` must be at most "
                f"{_MAX_NOISE_SCALE:.4g} (float32's largest / 16), or the noise "
                f"overflows to inf. Received: stddev={stddev!r}, "
                f"value_range={value_range!r}"
            )
        clip = check_bool(clip, "clip")
        self.stddev = stddev
        self.clip = clip

    def perturb(self, images, seed):
        low, high = self.value_range
        if isinstance(self.stddev, tuple):
            scale = _per_image_uniform(images, self.stddev, seed)
            noise = ops.multiply(
                _normal(ops.shape(images), high - low, images.dtype, seed), scale
            )
        else:
            noise = _normal(
                ops.shape(images), self.stddev * (high - low), images.dtype, seed
            )
        outputs = ops.add(images, noise)
        if self.clip:
            outputs = ops.clip(outputs, low, high)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update({"stddev": self.stddev, "clip": self.clip})
        return config


def _validate_quality(quality):
    if is_int(quality):
        check_jpeg_quality(quality)
        return int(quality)
    if (
        isinstance(quality, (list, tuple))
        and len(quality) == 2
        and all(is_int(q) and 0 <= q <= 100 for q in quality)
    ):
        if quality[0] > quality[1]:
            raise ValueError(
                "`quality` must be a pair (low, high) with low <= high. "
                f"Received: quality={quality!r}"
            )
        return (int(quality[0]), int(quality[1]))
    raise ValueError(
        "`quality` must be an int in [0, 100] or a pair (low, high) of ints in "
        f"[0, 100]. Received: quality={quality!r}"
    )


def _libjpeg_levels(images, quality, straight_through):
    # `images` in [0, 1]; returns the decoded 8-bit levels as floats in [0, 255].
    # `straight_through` is always False here (checked by the layer).
    _backend.require_tensorflow("JpegCompression(method='libjpeg')")
    decoded = jpeg_lib.libjpeg_compress(ops.cast(images, "float32"), quality)
    # The decoder's `k * (1 / 255)` times 255 is off by an ulp for some k.
    return ops.round(ops.multiply(decoded, 255.0))


def _dct_levels(images, quality, straight_through):
    decoded = jpeg_lib.dct_compress(images, quality, straight_through)
    scaled = ops.multiply(decoded, 255.0)
    # Same ulp as above; the rounding must not stop a straight-through gradient.
    levels = ops.round(scaled)
    if straight_through:
        return ops.add(scaled, ops.stop_gradient(ops.subtract(levels, scaled)))
    return levels


# Each method maps (images in [0, 1] as float32, per-image int32 quality,
# straight_through) to the decoded images on the 8-bit scale [0, 255], as
# float32.
_JPEG_METHODS = {"libjpeg": _libjpeg_levels, "dct": _dct_levels}
# Methods that run outside the graph compilers (not XLA-compilable).
_JPEG_METHODS_WITHOUT_JIT = ("libjpeg",)


@keras.saving.register_keras_serializable(package="keras_stability")
class JpegCompression(Perturbation):
    """Re-encodes every image as JPEG: the paper's JPEG-q distortion.

    Each image is rescaled to `[0, 1]` as `(x - low) / (high - low)`,
    encoded at its quality, decoded, and mapped back as
    `low + k * (high - low) / 255` for its decoded 8-bit level `k`. So the
    outputs sit on the 256 levels of `value_range` (integers on `(0, 255)`),
    and on `(0, 1)` they are bit-identical to `tf.image.adjust_jpeg_quality`.

    Inputs a little outside `value_range` (noise added upstream) saturate to
    its ends, as in any 8-bit codec: every pixel becomes one of the 256
    levels before encoding. Images far outside it are refused (see
    `Perturbation.check_images`): 0..255 images under the default `(0, 1)`
    would encode nearly every pixel as level 255, a white image, so they
    need `value_range=(0, 255)`.

    `quality` is either fixed or a range `(low, high)`; with a range, every
    image gets its own quality, drawn uniformly from the integers in
    `[low, high]` (both included) with `keras.random.randint`.

    Images need 1 (grayscale) or 3 (RGB, 4:2:0 chroma subsampling as
    TensorFlow's encoder does by default) channels. Two methods:

    - `method="libjpeg"` runs the real codec through TensorFlow, one image
      at a time on the CPU: it needs the TensorFlow backend (checked at
      construction) and cannot be XLA-compiled (the layer sets
      `supports_jit = False`, so a model that tracks it compiles its step
      without XLA).
    - `method="dct"` runs `keras_stability.jpeg.dct_compress`: the same
      encoder and decoder arithmetic written in `keras.ops` on the whole
      batch, so it works on every backend, compiles with XLA and stays on
      the accelerator (on TensorFlow it compiles itself with XLA inside any
      `tf.function`, also where Keras leaves XLA off). Its pixels match libjpeg's (bit-identical to
      `tf.image.adjust_jpeg_quality` on the photographs of the tests).

    Neither is differentiable by default, which stability training does not
    need: the gradient flows through the network's output on x', not through
    x'. With `method="dct"`, `straight_through=True` passes the gradient
    through every rounding unchanged, for uses that need d x' / d x.

    Args:
        quality: int in `[0, 100]`, or a pair `(low, high)` of them with
            `low <= high` to draw one quality per image. Defaults to `50`.
        method: how to compress; `"libjpeg"`, the real codec via
            `tf.image.adjust_jpeg_quality`, or `"dct"`, its batched
            simulation in tensor operations. Defaults to `"libjpeg"`.
        straight_through: bool, with `method="dct"` only: whether the
            roundings pass gradients straight through. Defaults to `False`.
        value_range: pair `(low, high)`, the range of the pixel values.
            Defaults to `(0, 1)`.
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator (used only to draw qualities from a range). Defaults
            to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import JpegCompression

    layer = JpegCompression(quality=(10, 50), value_range=(0, 255), seed=1)
    images = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3))
    compressed = np.asarray(layer(images.astype("uint8")))
    assert compressed.dtype == np.float32
    assert np.array_equal(compressed, np.round(compressed))
    ```

    Reference:
        - [Zheng et al., "Improving the Robustness of Deep Neural Networks via
          Stability Training", CVPR 2016](https://arxiv.org/abs/1604.04326)
    """

    def __init__(
        self,
        quality=50,
        method="libjpeg",
        straight_through=False,
        value_range=(0, 1),
        seed=None,
        **kwargs,
    ):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        self.quality = _validate_quality(quality)
        if not isinstance(method, str) or method not in _JPEG_METHODS:
            raise ValueError(
                f"`method` must be one of {tuple(_JPEG_METHODS)}. "
                f"Received: method={method!r}"
            )
        self.method = method
        straight_through = check_bool(straight_through, "straight_through")
        if straight_through and method != "dct":
            raise ValueError(
                "`straight_through=True` needs method='dct' (libjpeg is not "
                f"differentiable). Received: method={method!r}"
            )
        self.straight_through = straight_through
        if method == "libjpeg":
            # Fail at construction, not at the first training step.
            _backend.require_tensorflow("JpegCompression(method='libjpeg')")
        if method in _JPEG_METHODS_WITHOUT_JIT:
            self.supports_jit = False

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        if shape[-1] is not None:
            check_jpeg_channels(shape)
        return shape

    def perturb(self, images, seed):
        low, high = self.value_range
        batch = ops.shape(images)[0]
        if isinstance(self.quality, int):
            quality = ops.full((batch,), self.quality, dtype="int32")
        else:
            quality = keras.random.randint(
                (batch,),
                minval=self.quality[0],
                maxval=self.quality[1] + 1,
                dtype="int32",
                seed=seed,
            )
        unit = ops.divide(ops.subtract(ops.cast(images, "float32"), low), high - low)
        levels = _JPEG_METHODS[self.method](unit, quality, self.straight_through)
        outputs = ops.add(ops.multiply(levels, (high - low) / 255), low)
        return ops.cast(outputs, images.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "quality": self.quality,
                "method": self.method,
                "straight_through": self.straight_through,
            }
        )
        return config


_CROP_INTERPOLATIONS = ("bilinear", "nearest")


def _resize_taps(window, size):
    """Where `tf.image.resize` samples to resize `window` pixels to `size`.

    Half-pixel centres, in float32 as TensorFlow computes them: output pixel
    `i` is centred at `c = (i + 0.5) * (window / size)` in the input. The
    nearest neighbour is `floor(c)`; bilinear reads the two pixels around
    `c - 0.5`; samples are clamped to `[0, window - 1]`.

    Returns:
        NumPy arrays of shape `(size,)`: the nearest pixel, the lower and
        upper bilinear taps (all int32), and the upper tap's weight
        (float32).
    """
    scale = np.float32(window / size)
    centres = (np.arange(size, dtype=np.float32) + np.float32(0.5)) * scale
    nearest = np.minimum(np.floor(centres), window - 1).astype("int32")
    coordinates = centres - np.float32(0.5)
    floor = np.floor(coordinates)
    lower = np.maximum(floor, 0).astype("int32")
    upper = np.minimum(np.ceil(coordinates), window - 1).astype("int32")
    fraction = (coordinates - floor).astype("float32")
    return nearest, lower, upper, fraction


def _crop_resize_axis(images, offsets, axis, size, window, interpolation, choice=None):
    """Resamples `window` pixels from `offsets` along `axis` back to `size`.

    Same sampling grid as `tf.image.resize` (`_resize_taps`). `window` is an
    int, the same for every image, or a tuple of ints together with
    `choice`, an int tensor `(batch,)`: image `b` resamples
    `window[choice[b]]` pixels. `offsets` `(batch,)` is where each image's
    window starts.
    """
    windows = (window,) if choice is None else window
    taps = [_resize_taps(w, size) for w in windows]
    # Nearest, lower, upper, fraction: one row per window.
    tables = [np.stack([t[k] for t in taps]) for k in range(4)]
    if choice is not None:
        # One row of taps per image; static shapes, so XLA compiles it.
        tables = [ops.take(table, choice, axis=0) for table in tables]
    nearest, lower, upper, fraction = tables
    if choice is not None:
        fraction = ops.cast(fraction, images.dtype)
    axis_shape = [1, 1, 1, 1]
    axis_shape[axis] = size
    start = ops.expand_dims(offsets, 1)

    if interpolation == "nearest":
        index = ops.reshape(ops.add(start, nearest), [-1] + axis_shape[1:])
        return ops.take_along_axis(images, index, axis=axis)
    # Bilinear as a per-image (size x size) interpolation matrix: a batched
    # matmul, about 4x faster than two gathers per axis on a CPU.
    fraction = ops.expand_dims(fraction, -1)
    matrix = ops.add(
        ops.multiply(
            ops.one_hot(start + lower, size, dtype=images.dtype),
            ops.subtract(1, fraction),
        ),
        ops.multiply(ops.one_hot(start + upper, size, dtype=images.dtype), fraction),
    )
    equation = "bhwc,bow->bhoc" if axis == 2 else "bhwc,boh->bowc"
    return ops.einsum(equation, images, matrix)


@keras.saving.register_keras_serializable(package="keras_stability")
class RandomCropOffset(Perturbation):
    """Crops a slightly shifted window and resizes it back: the paper's crop-o.

    For images of size `(H, W)` and `o = max_offset`, every image gets its
    own window of size `(H - o, W - o)` whose top-left corner `(dy, dx)` is
    drawn uniformly from the integers `{0, ..., o} x {0, ..., o}` (so the
    window shifts by whole pixels, as in the paper), and the window is
    resized back to `(H, W)`. The result equals cropping
    `image[dy:dy + H - o, dx:dx + W - o]` and calling `tf.image.resize` on it
    (half-pixel centres, samples clamped to the window); `max_offset=0` is
    the identity.

    With a pair `max_offset=(a, b)` every image first gets its own offset
    budget `o`, drawn uniformly from the integers `{a, ..., b}`, and then a
    window and a corner as above for that `o`: mild and strong crops in the
    same batch. A pair `(a, a)` is the same layer as `max_offset=a`, with
    the same draws.

    It is written with gathers in `keras.ops` (not
    `keras.ops.image.affine_transform`, whose TensorFlow kernel XLA cannot
    compile), so it runs batched and under XLA on every backend. The image
    height and width must be known when the layer is called, and larger
    than the largest offset. Bilinear resampling stays within the range of
    the input, so nothing is clipped.

    Args:
        max_offset: int >= 0, the largest shift `o` of the window in pixels,
            which also makes the window `o` pixels smaller than the image;
            or a pair `(a, b)` of them with `a <= b` to draw one per image.
            Defaults to `4`.
        interpolation: `"bilinear"` or `"nearest"`, how the window is
            resized back. Defaults to `"bilinear"`.
        value_range: pair `(low, high)`, the range of the pixel values.
            Defaults to `(0, 1)`.
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator. Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import RandomCropOffset

    layer = RandomCropOffset(max_offset=10, seed=1)
    images = np.random.default_rng(0).random((4, 64, 64, 3), dtype="float32")
    shifted = np.asarray(layer(images))
    assert shifted.shape == (4, 64, 64, 3)
    assert shifted.min() >= images.min() and shifted.max() <= images.max()
    ```

    Reference:
        - [Zheng et al., "Improving the Robustness of Deep Neural Networks via
          Stability Training", CVPR 2016](https://arxiv.org/abs/1604.04326)
    """

    def __init__(
        self,
        max_offset=4,
        interpolation="bilinear",
        value_range=(0, 1),
        seed=None,
        **kwargs,
    ):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        max_offset = _check_max_offset(max_offset)
        if interpolation not in _CROP_INTERPOLATIONS:
            raise ValueError(
                f"`interpolation` must be one of {_CROP_INTERPOLATIONS}. "
                f"Received: interpolation={interpolation!r}"
            )
        self.max_offset = max_offset
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        self._check_offset(*shape[-3:-1])
        return shape

    def _check_offset(self, height, width):
        offset = _strongest(self.max_offset)
        if any(size is not None and offset >= size for size in (height, width)):
            which = (
                "The upper end of `max_offset`"
                if isinstance(self.max_offset, tuple)
                else "`max_offset`"
            )
            raise ValueError(
                f"{which} must be smaller than the image height and width. "
                f"Received: max_offset={self.max_offset!r} for images of "
                f"height={height} and width={width}"
            )

    def perturb(self, images, seed):
        # `_to_batch` has checked the offset against the image.
        height, width = _static_height_width(images, self)
        if isinstance(self.max_offset, tuple) and (
            self.max_offset[0] < self.max_offset[1]
        ):
            return self._perturb_offset_range(images, seed, height, width)
        offset = _strongest(self.max_offset)
        corners = keras.random.randint(
            (ops.shape(images)[0], 2), 0, offset + 1, dtype="int32", seed=seed
        )
        # Columns first, then rows: the order `tf.image.resize` interpolates in.
        images = _crop_resize_axis(
            images, corners[:, 1], 2, width, width - offset, self.interpolation
        )
        return _crop_resize_axis(
            images, corners[:, 0], 1, height, height - offset, self.interpolation
        )

    def _perturb_offset_range(self, images, seed, height, width):
        low, high = self.max_offset
        batch = ops.shape(images)[0]
        offsets = keras.random.randint(
            (batch, 1), low, high + 1, dtype="int32", seed=seed
        )
        # Corner uniform in {0, ..., o}: floor(u * (o + 1)) for u ~ U[0, 1),
        # capped at o against float32 rounding up.
        unit = keras.random.uniform((batch, 2), dtype="float32", seed=seed)
        corners = ops.cast(
            ops.floor(ops.multiply(unit, ops.cast(offsets + 1, "float32"))), "int32"
        )
        corners = ops.minimum(corners, offsets)
        choice = offsets[:, 0] - low
        budgets = range(low, high + 1)
        images = _crop_resize_axis(
            images,
            corners[:, 1],
            2,
            width,
            tuple(width - o for o in budgets),
            self.interpolation,
            choice,
        )
        return _crop_resize_axis(
            images,
            corners[:, 0],
            1,
            height,
            tuple(height - o for o in budgets),
            self.interpolation,
            choice,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {"max_offset": self.max_offset, "interpolation": self.interpolation}
        )
        return config


def _check_max_offset(max_offset):
    """`max_offset` as an int >= 0, or a pair `(a, b)` of them as a tuple."""
    pair = isinstance(max_offset, (list, tuple))

    def check(value, name):
        if is_int(value) and value >= 0:
            return int(value)
        expected = "a pair (a, b) of ints >= 0 with a <= b" if pair else "an int >= 0"
        raise ValueError(
            f"`{name}` must be {expected}. Received: {name}={max_offset!r}"
        )

    return _check_severity(max_offset, "max_offset", check)


_RESIZE_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5")


def _check_scale(scale):
    """`scale` as given: a number in `(0, 1]`, or a pair of them as a tuple."""
    pair = isinstance(scale, (list, tuple))

    def check(value, name):
        if is_number(value) and 0 < value <= 1:
            return float(value) if pair else value
        expected = (
            "a pair (a, b) of numbers in (0, 1] with a <= b" if pair else "in (0, 1]"
        )
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={scale!r}")

    return _check_severity(scale, "scale", check)


def _scaled_size(scale, height, width):
    """The thumbnail size for `scale`: each side rounded half up, at least 1."""
    return (
        max(1, math.floor(scale * height + 0.5)),
        max(1, math.floor(scale * width + 0.5)),
    )


def _resize_matrix(window, size, interpolation):
    """`tf.image.resize` of `window` pixels to `size` along one axis, as a matrix.

    Returns a float64 `(size, window)` matrix: output pixel `i` is row `i`
    times the input (`_resize_taps`, no antialiasing).
    """
    nearest, lower, upper, fraction = _resize_taps(window, size)
    rows = np.arange(size)
    matrix = np.zeros((size, window))
    if interpolation == "nearest":
        matrix[rows, nearest] = 1
    else:
        fraction = fraction.astype(np.float64)
        np.add.at(matrix, (rows, lower), 1 - fraction)
        np.add.at(matrix, (rows, upper), fraction)
    return matrix


# (size, smallest, largest, interpolation) -> `_thumbnail_matrices`' result.
_THUMBNAIL_MATRICES = {}


def _thumbnail_matrices(size, smallest, largest, interpolation):
    """The round trips `size` -> `t` -> `size` for `t` in `[smallest, largest]`.

    Resizing is linear and separable, so along one axis the round trip is a
    `(size, size)` matrix. Returns them stacked, read-only float32
    `(largest - smallest + 1, size, size)`, the one of side `t` at index
    `t - smallest`; computed once per argument tuple.
    """
    key = (size, smallest, largest, interpolation)
    if key not in _THUMBNAIL_MATRICES:
        stack = np.stack(
            [
                _resize_matrix(side, size, interpolation)
                @ _resize_matrix(size, side, interpolation)
                for side in range(smallest, largest + 1)
            ]
        ).astype(np.float32)
        stack.flags.writeable = False
        _THUMBNAIL_MATRICES[key] = stack
    return _THUMBNAIL_MATRICES[key]


def _thumbnail_axis(images, scales, axis, size, sides, interpolation):
    """Shrinks each image along `axis` to its own side and enlarges it back.

    Image `b` gets the side `max(1, floor(scales[b] * size + 0.5))`, rounded
    as `_scaled_size` rounds (in float32), and kept within `sides`, the
    smallest and largest side of the range. Its round trip is its matrix of
    `_thumbnail_matrices`, applied as a batched matmul.
    """
    smallest, largest = sides
    matrices = _thumbnail_matrices(size, smallest, largest, interpolation)
    side = ops.maximum(ops.floor(ops.add(ops.multiply(scales, size), 0.5)), 1)
    index = ops.clip(ops.cast(side, "int32") - smallest, 0, largest - smallest)
    matrix = ops.take(ops.convert_to_tensor(matrices, images.dtype), index, axis=0)
    equation = "bhwc,bow->bhoc" if axis == 2 else "bhwc,boh->bowc"
    return ops.einsum(equation, images, matrix)


# Interpolations a `scale` range resamples with (as matrices, no antialias).
_RANGE_INTERPOLATIONS = ("bilinear", "nearest")


@keras.saving.register_keras_serializable(package="keras_stability")
class ThumbnailResize(Perturbation):
    """Shrinks every image to a thumbnail and scales it back up: thumb-A.

    The images are resized with `keras.ops.image.resize` to the thumbnail
    size (low-pass filtered first if `antialias=True`), then back to their
    own `(H, W)`.
    Give the thumbnail either as `size` (an int `A` for `A x A`, or a pair
    `(h, w)`) or as `scale`, a fraction of the image size:
    `(max(1, round(scale * H)), max(1, round(scale * W)))`, rounded half up.
    So a side that a small `scale` would round to 0 pixels is 1 pixel: the
    coarsest thumbnail there is, by definition, for any image size (e.g.
    `scale=0.01` on 20 x 30 images gives a 1 x 1 thumbnail, not an error).
    Defaults to `scale=0.5` when neither is given. When the thumbnail is the
    image size (e.g. `scale=1`) the layer is the identity. With `size` or a
    single `scale` the layer is deterministic: the seed is never used. The
    image height and width must be known when the layer is called, and a
    `size` larger than the image in either dimension is an error then (a
    thumbnail is never larger than its image).

    With a pair `scale=(a, b)` every image gets its own scale, drawn
    uniformly from `[a, b]`, and so its own thumbnail size, rounded as
    above: mild and strong blur in the same batch. Each image's round trip
    is then applied as a resampling matrix per axis, with the sampling of
    TensorFlow's resize (half-pixel centres), so a range takes only
    `"bilinear"` and `"nearest"`, without `antialias`. Every size from `a`'s
    to `b`'s has its matrices, `H x H` and `W x W`: a wide range on large
    images holds many of them.

    Bilinear and nearest resampling stay within the input's range; bicubic
    and Lanczos may overshoot it, and nothing is clipped.

    Args:
        size: int `A` or pair `(height, width)` of ints >= 1, the thumbnail
            size, at most the image size. Defaults to `None`.
        scale: float in `(0, 1]`, the thumbnail size as a fraction of the
            image size, or a pair `(a, b)` of them with `a <= b` to draw one
            per image. Defaults to `None` (and to `0.5` if `size` is also
            `None`).
        interpolation: one of `"bilinear"`, `"nearest"`, `"bicubic"`,
            `"lanczos3"`, `"lanczos5"` (with a `scale` pair, one of the
            first two), used both ways. Defaults to `"bilinear"`.
        antialias: bool, whether to low-pass filter when shrinking, as image
            tools do when they make thumbnails (no effect with `"nearest"`,
            as in `tf.image.resize`; `False` with a `scale` pair). Defaults
            to `False`.
        value_range: pair `(low, high)`, the range of the pixel values.
            Defaults to `(0, 1)`.
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator (used only to draw scales from a pair). Defaults to
            `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import ThumbnailResize

    layer = ThumbnailResize(size=16)
    images = np.random.default_rng(0).random((2, 64, 64, 3), dtype="float32")
    blurred = np.asarray(layer(images))
    assert blurred.shape == (2, 64, 64, 3)
    ```

    Reference:
        - [Zheng et al., "Improving the Robustness of Deep Neural Networks via
          Stability Training", CVPR 2016](https://arxiv.org/abs/1604.04326)
    """

    def __init__(
        self,
        size=None,
        scale=None,
        interpolation="bilinear",
        antialias=False,
        value_range=(0, 1),
        seed=None,
        **kwargs,
    ):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        if size is not None and scale is not None:
            raise ValueError(
                "Give either `size` or `scale`, not both. "
                f"Received: size={size!r}, scale={scale!r}"
            )
        if size is not None:
            size = check_size(size, "size", allow_int=True)
        if scale is not None:
            scale = _check_scale(scale)
        if interpolation not in _RESIZE_INTERPOLATIONS:
            raise ValueError(
                f"`interpolation` must be one of {_RESIZE_INTERPOLATIONS}. "
                f"Received: interpolation={interpolation!r}"
            )
        antialias = check_bool(antialias, "antialias")
        if isinstance(scale, tuple) and (
            antialias or interpolation not in _RANGE_INTERPOLATIONS
        ):
            raise ValueError(
                "A `scale` range resamples with interpolation 'bilinear' or "
                "'nearest' and antialias=False. Received: "
                f"scale={scale!r}, interpolation={interpolation!r}, "
                f"antialias={antialias!r}"
            )
        self.size = size
        self.scale = scale
        self.interpolation = interpolation
        self.antialias = antialias

    def thumbnail_size(self, height, width):
        """The `(height, width)` of the thumbnail for images of that size.

        Raises:
            ValueError: if `size` is larger than `(height, width)` in either
                dimension, or if `scale` is a range (each image gets its own
                size then).
        """
        if isinstance(self.scale, tuple):
            low, high = self.scale
            raise ValueError(
                "With a `scale` range every image gets its own thumbnail size, "
                f"from {_scaled_size(low, height, width)} to "
                f"{_scaled_size(high, height, width)} here. "
                f"Received: scale={self.scale!r}"
            )
        if self.size is not None:
            size = (self.size, self.size) if is_int(self.size) else self.size
            if size[0] > height or size[1] > width:
                raise ValueError(
                    "`size` must not be larger than the image in either "
                    "dimension (a thumbnail shrinks it). Received: "
                    f"size={self.size!r} for images of height={height} and "
                    f"width={width}"
                )
            return size
        return _scaled_size(0.5 if self.scale is None else self.scale, height, width)

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        height, width = shape[-3:-1]
        # Every scale in (0, 1] fits: only `size` can be too large.
        if height is not None and width is not None and self.size is not None:
            self.thumbnail_size(height, width)
        return shape

    def perturb(self, images, seed):
        height, width = _static_height_width(images, self)
        if isinstance(self.scale, tuple):
            return self._perturb_scale_range(images, seed, height, width)
        thumbnail = self.thumbnail_size(height, width)
        if tuple(thumbnail) == (height, width):
            return images
        resize_options = {
            "interpolation": self.interpolation,
            "data_format": "channels_last",
        }
        small = ops.image.resize(
            images, thumbnail, antialias=self.antialias, **resize_options
        )
        return ops.image.resize(small, (height, width), **resize_options)

    def _perturb_scale_range(self, images, seed, height, width):
        low, high = self.scale
        smallest = _scaled_size(low, height, width)
        largest = _scaled_size(high, height, width)
        if smallest == largest == (height, width):
            return images
        scales = keras.random.uniform(
            (ops.shape(images)[0],), low, high, dtype="float32", seed=seed
        )
        # Columns first, then rows, as for a single scale; an axis that
        # keeps its size for every scale of the range is left alone.
        for axis, size, side in ((2, width, 1), (1, height, 0)):
            sides = (smallest[side], largest[side])
            if sides != (size, size):
                images = _thumbnail_axis(
                    images, scales, axis, size, sides, self.interpolation
                )
        return images

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "size": self.size,
                "scale": self.scale,
                "interpolation": self.interpolation,
                "antialias": self.antialias,
            }
        )
        return config


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
        with _inside_combination():
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

    The elements run in list order, each on the previous one's output. An
    element may be a `Perturbation` (called with `training` and `seed`), any
    other Keras layer (called with `training=True`), or a callable `f(x)` on
    the 4-D batch; every output is cast to the compute dtype. With
    `training=False` the inputs come back unchanged and no element runs.

    A `seed` given to the call is passed to every element (each of its draws
    is a distinct stream). Without one, a `seed` given to `Compose` drives
    all elements through `Compose`'s own generator, and with neither each
    element uses its own generator.

    `Compose` can be saved when its elements can: layers registered as
    serializable, or named functions registered with
    `keras.saving.register_keras_serializable`. It takes no `value_range`
    (passing one is an error): each element has its own.

    Args:
        perturbations: non-empty list of perturbations, Keras layers or
            callables, applied in order.
        seed: int in `[0, 2**31 - 1]` or `None`; when set, one generator
            seeded with it drives every element. Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import Compose, GaussianNoise
    from keras_stability.perturbations import JpegCompression

    layer = Compose([JpegCompression(quality=50), GaussianNoise(0.02)], seed=1)
    images = np.random.default_rng(0).random((2, 32, 32, 3), dtype="float32")
    assert np.asarray(layer(images)).shape == (2, 32, 32, 3)
    ```

    Reference:
        - [Zheng et al., "Improving the Robustness of Deep Neural Networks via
          Stability Training", CVPR 2016](https://arxiv.org/abs/1604.04326)
    """

    def __init__(self, perturbations, seed=None, **kwargs):
        super().__init__(perturbations, seed=seed, **kwargs)
        if not all(getattr(p, "supports_jit", True) for p in self.perturbations):
            self.supports_jit = False

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

    Every image independently gets perturbation `k` with probability
    `weights[k] / sum(weights)` (uniform by default), from one uniform draw
    per image. Each element runs on the whole batch and the outputs are
    merged per image with `where`, so the cost is that of running all of
    them, and every branch sees the same batch (a random element draws for
    every image, including those that do not keep its output). Elements may
    be perturbations, Keras layers or callables, as in `Compose`, and must
    keep the shape of their input.

    The choice uses the `seed` given to the call, else the layer's own
    generator. A call `seed` is also passed to every element; without one, a
    `seed` given to `OneOf` drives the elements too, and with neither each
    element uses its own generator.

    It takes no `value_range` (passing one is an error): each element has
    its own.

    Args:
        perturbations: non-empty list of perturbations, Keras layers or
            callables.
        weights: `None` or a list of non-negative numbers, one per element,
            with a positive sum: the relative odds of each element. Stored as
            `choice_weights`, since `Layer.weights` lists a layer's
            variables. Defaults to `None` (uniform).
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator. Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

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
        if not all(getattr(p, "supports_jit", True) for p in self.perturbations):
            self.supports_jit = False

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


# The default's crop offsets in pixels, as in the evaluation suite (crops of
# 2, 5 and 10 pixels); on small images at most a quarter of the side.
_DEFAULT_CROP_OFFSETS = (2, 8)


def default_perturbation(input_shape=None, value_range=(0, 1)):
    """The perturbation `StabilityModel` uses when given none.

    One of the paper's four distortion families per image, each at a
    severity drawn per image, so that one model learns to ignore all of
    them:

    ```
    OneOf([GaussianNoise(stddev=(0.02, 0.1)),
           JpegCompression(quality=(10, 90), method="dct"),
           RandomCropOffset(max_offset=(2, 8)),
           ThumbnailResize(scale=(0.25, 0.75))])
    ```

    Crop offsets are at most a quarter of the image's shorter side (on
    16x16 images, `(2, 4)`); JPEG is left out for images that have neither 1
    nor 3 channels. `benchmarks/robustness.py` chose it, with
    `model.DEFAULT_ALPHA`, by its worst case over several kinds of images
    and networks (the table is in `benchmarks/RESULTS.md`). The paper's own
    training perturbation is `GaussianNoise(stddev=0.04)`.

    Args:
        input_shape: the shape of one image `(height, width, channels)` (a
            batch dimension in front is allowed), or `None` for 32x32 RGB.
            Defaults to `None`.
        value_range: the images' value range, e.g. `(0, 255)` for what
            `keras.utils.image_dataset_from_directory` yields. Defaults to
            `(0, 1)`.

    Returns:
        A new `OneOf` layer.

    Example:

    >>> from keras_stability.perturbations import default_perturbation
    >>> layer = default_perturbation((32, 32, 3))
    >>> [type(e).__name__ for e in layer.perturbations]
    ['GaussianNoise', 'JpegCompression', 'RandomCropOffset', 'ThumbnailResize']
    >>> default_perturbation((16, 16, 4)).perturbations[1].max_offset
    (2, 4)
    """
    shape = (32, 32, 3) if input_shape is None else tuple(input_shape)[-3:]
    if len(shape) != 3:
        raise ValueError(
            "`input_shape` must be the shape of an image (height, width, "
            f"channels). Received: input_shape={input_shape!r}"
        )
    height, width, channels = shape
    sides = [side for side in (height, width) if side is not None]
    low, high = _DEFAULT_CROP_OFFSETS
    if sides:
        high = max(1, min(high, min(sides) // 4))
        low = min(low, high)
    elements = [GaussianNoise(stddev=(0.02, 0.1), value_range=value_range)]
    if channels in (1, 3, None):
        elements.append(
            JpegCompression((10, 90), method="dct", value_range=value_range)
        )
    elements += [
        RandomCropOffset((low, high), value_range=value_range),
        ThumbnailResize(scale=(0.25, 0.75), value_range=value_range),
    ]
    return OneOf(elements)
