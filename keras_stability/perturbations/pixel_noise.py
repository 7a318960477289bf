"""Pixel noise of ImageNet-C: `ShotNoise` and `ImpulseNoise`.

Two corruptions of ImageNet-C (Hendrycks and Dietterich, ICLR 2019) in
`keras.ops`, drawn independently for every pixel and channel, so their
severities mean the same at any image size. Results are clipped to
`value_range`, as ImageNet-C clips them.
"""

import keras
from keras import ops

from keras_stability.perturbations._corruption import Corruption
from keras_stability.perturbations._random import normal
from keras_stability.perturbations._random import uniform
from keras_stability.perturbations._severity import check_interval

__all__ = ["ImpulseNoise", "ShotNoise"]


@keras.saving.register_keras_serializable(package="keras_stability")
class ShotNoise(Corruption):
    """Adds photon noise, whose variance grows with the intensity.

    ImageNet-C's shot noise counts photons: a pixel at relative intensity
    `u` (0 at `low`, 1 at `high`) becomes `Poisson(u * c) / c` for `c`
    photons at full intensity. `keras.random` has no Poisson draws, so this
    layer adds the Gaussian of the same mean and variance, `u / c`: the
    standard deviation is `stddev * sqrt(u)` with `stddev = 1 / sqrt(c)`,
    the noise of a full-intensity pixel in units of the range's width. The
    approximation is close where `u * c` is large and coarser in the dark
    at strong severities (few photons: the Poisson is discrete and never
    negative). Independent per pixel and channel; the result is clipped to
    `value_range`. A pair `stddev=(a, b)` draws one per image (see
    `Perturbation`). ImageNet-C's severities 1 to 5, `c` = 60, 25, 12, 5
    and 3, are `stddev = 1 / sqrt(c)` here.

    Formula:

    ```
    u = (x - low) / (high - low)
    x' = low + (high - low) * clip(u + stddev * sqrt(u) * eps, 0, 1),  eps ~ N(0, 1)
    ```

    Args:
        stddev: float in `[0, 1]`, or a pair `(a, b)` of them with `a <= b`
            to draw one per image: the noise standard deviation at full
            intensity, as a fraction of the range's width. Defaults to
            `0.2`.
        value_range: pair `(low, high)`, the range of the pixel values.
            Defaults to `(0, 1)`.
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator, which draws the noise. Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Returns:
        Called on images, the noisy images in the layer's compute dtype.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import ShotNoise

    images = np.zeros((2, 16, 16, 3), "float32")
    images[:, :8] = 0.5
    noisy = np.asarray(ShotNoise(stddev=0.1, seed=1)(images))
    assert np.all(noisy[:, 8:] == 0)  # no light, no noise
    assert 0.06 < np.std(noisy[:, :8]) < 0.08  # 0.1 * sqrt(0.5)
    ```

    Reference:
        - [Hendrycks and Dietterich, "Benchmarking Neural Network Robustness
          to Common Corruptions and Perturbations", ICLR 2019](
          https://arxiv.org/abs/1903.12261)
    """

    severity_name = "stddev"

    def __init__(self, stddev=0.2, value_range=(0, 1), seed=None, **kwargs):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        self.stddev = check_interval(stddev, "stddev", 0, 1)

    def corrupt(self, unit, severity, seed):
        noise = normal(ops.shape(unit), 1.0, "float32", seed)
        scale = ops.multiply(
            ops.sqrt(ops.maximum(unit, 0.0)), severity[:, None, None, None]
        )
        return ops.add(unit, ops.multiply(scale, noise))


@keras.saving.register_keras_serializable(package="keras_stability")
class ImpulseNoise(Corruption):
    """Salt and pepper: sets a share of the values to the range's ends.

    Each value (every pixel and channel independently, as scikit-image's
    `random_noise(mode="s&p")`, which ImageNet-C uses) becomes `low` with
    probability `amount / 2`, `high` with probability `amount / 2`, and
    keeps its value otherwise. A pair `amount=(a, b)` draws one per image
    (see `Perturbation`). ImageNet-C's severities 1 to 5 are `amount` =
    0.03, 0.06, 0.09, 0.17 and 0.27.

    Formula:

    ```
    v ~ U[0, 1) per value
    x' = low if v < amount / 2, high if amount / 2 <= v < amount, else x
    ```

    Args:
        amount: float in `[0, 1]`, or a pair `(a, b)` of them with `a <= b`
            to draw one per image: the share of values replaced. Defaults
            to `0.06`.
        value_range: pair `(low, high)`, the range of the pixel values.
            Defaults to `(0, 1)`.
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator, which draws the noise. Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Returns:
        Called on images, the noisy images in the layer's compute dtype.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import ImpulseNoise

    images = np.full((2, 16, 16, 3), 0.5, "float32")
    noisy = np.asarray(ImpulseNoise(amount=0.2, seed=1)(images))
    assert set(np.unique(noisy)) == {0.0, 0.5, 1.0}
    assert 0.15 < np.mean(noisy != 0.5) < 0.25
    ```

    Reference:
        - Hendrycks and Dietterich, ICLR 2019 (linked on `ShotNoise`).
    """

    severity_name = "amount"

    def __init__(self, amount=0.06, value_range=(0, 1), seed=None, **kwargs):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        self.amount = check_interval(amount, "amount", 0, 1)

    def corrupt(self, unit, severity, seed):
        amount = severity[:, None, None, None]
        draws = uniform(ops.shape(unit), 0.0, 1.0, "float32", seed)
        salted = ops.where(ops.less(draws, amount), 1.0, unit)
        return ops.where(ops.less(draws, ops.multiply(amount, 0.5)), 0.0, salted)
