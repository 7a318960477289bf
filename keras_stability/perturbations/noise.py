"""`GaussianNoise`: the paper's training perturbation."""

import keras
from keras import ops

from keras_stability._checks import FLOAT32_MAX
from keras_stability._checks import check_bool
from keras_stability._checks import check_non_negative
from keras_stability.perturbations._random import normal
from keras_stability.perturbations._severity import check_severity
from keras_stability.perturbations._severity import per_image_uniform
from keras_stability.perturbations._severity import strongest
from keras_stability.perturbations.base import Perturbation

__all__ = ["GaussianNoise"]

# Draws of N(0, 1) in float32 stay below 8 in magnitude: a noise scale up to
# float32's largest / 16 keeps the noise, and the pixels it is added to,
# finite in float32.
_MAX_NOISE_SCALE = FLOAT32_MAX / 16


@keras.saving.register_keras_serializable(package="keras_stability")
class GaussianNoise(Perturbation):
    """Adds i.i.d. Gaussian noise to every pixel: the paper's training x'.

    Each output value is the input plus a draw of `N(0, 1)` times
    `stddev * (high - low)`, independent per pixel and channel, so `stddev`
    is in units of the width of `value_range` (`stddev=0.04` is 0.04 on
    `(0, 1)` and 10.2 on `(0, 255)`). A pair `stddev=(a, b)` draws one
    standard deviation per image (see `Perturbation`). As in the paper the
    result is not clipped, so it can leave `value_range`; pass `clip=True`
    to clip it back.

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
            generator, which draws the noise (and the per-image standard
            deviations). Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Returns:
        Called on images, the noisy images in the layer's compute dtype.

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
        - Zheng et al., CVPR 2016: its training perturbation (the paper
          is linked on `Perturbation`).
    """

    def __init__(
        self, stddev=0.04, clip=False, value_range=(0, 1), seed=None, **kwargs
    ):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        stddev = check_severity(stddev, "stddev", check_non_negative)
        low, high = self.value_range
        if strongest(stddev) * (high - low) > _MAX_NOISE_SCALE:
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
            scale = per_image_uniform(images, self.stddev, seed)
            noise = ops.multiply(
                normal(ops.shape(images), high - low, images.dtype, seed), scale
            )
        else:
            noise = normal(
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
