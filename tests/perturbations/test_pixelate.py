"""Tests of perturbations/pixelate.py against PIL's box resize."""

import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy
from PIL import Image

from keras_stability._seeds import StepSeed
from keras_stability.perturbations import Pixelate


def _pil_pixelate(images, scale):
    """ImageNet-C's pixelate with PIL, in float ("F") images, channel by channel."""
    height, width = images.shape[1:3]
    thumbnail = (max(1, int(width * scale)), max(1, int(height * scale)))
    return np.stack(
        [
            np.stack(
                [
                    np.asarray(
                        Image.fromarray(image[..., c], mode="F")
                        .resize(thumbnail, Image.BOX)
                        .resize((width, height), Image.BOX)
                    )
                    for c in range(images.shape[-1])
                ],
                -1,
            )
            for image in images
        ]
    )


@pytest.mark.parametrize("shape", [(2, 16, 13, 3), (2, 8, 8, 1)], ids=["rgb", "gray"])
@pytest.mark.parametrize("scale", [0.6, 0.5, 0.3, 0.05])
def test_pixelate_is_pils_box_resize_down_and_up(shape, scale, rng):
    images = rng.random(shape).astype("float32")
    output = to_numpy(Pixelate(scale=scale)(images))
    np.testing.assert_allclose(output, _pil_pixelate(images, scale), rtol=0, atol=1e-6)


def test_pixelate_extremes(rng):
    images = rng.random((2, 9, 7, 3)).astype("float32")
    np.testing.assert_array_equal(to_numpy(Pixelate(scale=1.0)(images)), images)
    # One block: every pixel is the image's mean colour.
    single = to_numpy(Pixelate(scale=0.01)(images))
    np.testing.assert_allclose(
        single,
        np.broadcast_to(images.mean(axis=(1, 2), keepdims=True), images.shape),
        atol=1e-6,
    )


def test_pixelate_draws_a_thumbnail_size_per_image(rng, recover):
    # Scales 0.25 to 0.75 of 16 pixels: thumbnails of 4 to 12 pixels a side.
    image = rng.random((1, 16, 16, 3)).astype("float32")
    batch = np.repeat(image, 6, axis=0)
    drawn = to_numpy(
        Pixelate(scale=(0.25, 0.75), seed=1)(batch, seed=StepSeed(np.array([1, 2])))
    )
    candidates = {side: _pil_pixelate(batch, side / 16) for side in range(4, 13)}
    sides = recover(drawn, candidates)
    assert len(set(sides)) > 1
