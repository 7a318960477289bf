"""`default_perturbation`: what `StabilityModel` uses when given none."""

from keras_stability.perturbations.combinations import OneOf
from keras_stability.perturbations.crop import RandomCropOffset
from keras_stability.perturbations.jpeg_compression import JpegCompression
from keras_stability.perturbations.noise import GaussianNoise
from keras_stability.perturbations.thumbnail import ThumbnailResize

__all__ = ["default_perturbation"]

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
