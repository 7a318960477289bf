"""Tests of `keras_stability.jpeg.dct`: libjpeg's arithmetic in tensor operations.

`dct_compress` is held to `tf.image.adjust_jpeg_quality` pixel for pixel, on
photographs and on noise, eagerly, in graphs, under XLA and under JAX.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
import skimage.transform
from keras.ops import convert_to_numpy as to_numpy

from keras_stability.jpeg import dct
from keras_stability.jpeg import dct_compress

# Every test compares with libjpeg through tf.image or runs under TensorFlow.
pytestmark = pytest.mark.tensorflow
tf = pytest.importorskip("tensorflow")


QUALITIES = np.array([10, 30, 50, 70, 90], "int32")


def _psnr(a, b):
    """PSNR in dB of two images in [0, 1]."""
    mse = np.mean((a.astype("float64") - b.astype("float64")) ** 2)
    return np.inf if mse == 0 else 10 * np.log10(1 / mse)


def _views(photo):
    """The photograph whole, two crops of sizes not multiples of 8, a resize."""
    resized = skimage.transform.resize(photo, (224, 224), anti_aliasing=True)
    return {
        "whole": photo,
        "37x45": photo[180:217, 200:245],
        "100x77": photo[60:160, 250:327],
        "224x224": np.round(resized * 255).astype("uint8"),
    }


PHOTOS = {
    "astronaut": skimage.data.astronaut,
    "chelsea": skimage.data.chelsea,
    "coffee": skimage.data.coffee,
    "camera": lambda: skimage.data.camera()[..., None],
}


@pytest.mark.parametrize("view", ["whole", "37x45", "100x77", "224x224"])
@pytest.mark.parametrize("photo", list(PHOTOS))
def test_dct_psnr_against_adjust_jpeg_quality(photo, view, adjust):
    image = _views(PHOTOS[photo]())[view].astype("float32") / 255
    # One copy of the photograph per quality, all in one batch.
    batch = np.repeat(image[None], len(QUALITIES), axis=0)
    output = to_numpy(dct_compress(batch, QUALITIES))
    assert output.shape == batch.shape and output.dtype == np.float32
    expected = adjust(batch, QUALITIES)
    for q, out, ref in zip(QUALITIES, output, expected, strict=True):
        assert not np.array_equal(out, image), q
        assert _psnr(out, ref) >= 40, (q, _psnr(out, ref))
        # Beyond the PSNR bound, what dct_compress's docstring claims.
        assert np.array_equal(out, ref), (q, np.abs(out - ref).max() * 255)
    # Lower quality, more distortion: the simulation is not the identity.
    errors = [_psnr(out, image) for out in output]
    assert errors == sorted(errors)


@pytest.mark.parametrize(
    "shape",
    [(1, 1, 3), (2, 7, 3), (9, 4, 3), (9, 5, 3), (17, 33, 3), (33, 17, 1)],
)
def test_dct_is_bit_identical_to_libjpeg_on_noise(shape, adjust):
    # Noise has every DCT coefficient large: no rounding boundary is safe.
    # Widths 4 and 5 straddle libjpeg's switch from plain to fancy upsampling.
    images = np.random.default_rng(7).random((6, *shape), dtype="float32")
    qualities = np.array([0, 1, 25, 50, 95, 100], "int32")
    output = to_numpy(dct_compress(images, qualities))
    assert np.array_equal(output, adjust(images, qualities))


def test_dct_is_bit_identical_to_libjpeg_on_photographs(photographs, adjust):
    images, qualities = photographs
    output = to_numpy(dct_compress(images, qualities))
    assert np.array_equal(output, adjust(images, qualities))


def test_dct_off_range_inputs_are_quantized_like_convert_image_dtype(adjust):
    images = np.linspace(-0.5, 1.5, 2 * 24 * 24 * 3, dtype="float32")
    images = images.reshape(2, 24, 24, 3)
    output = to_numpy(dct_compress(images, 60))
    assert np.array_equal(output, adjust(images, [60, 60]))


def test_dct_per_image_qualities_equal_single_quality_calls(rgb_odd):
    images = rgb_odd.astype("float32") / 255
    qualities = np.array([3, 17, 42, 64, 88, 99], "int32")
    together = to_numpy(dct_compress(images, qualities))
    for i, q in enumerate(qualities):
        alone = to_numpy(dct_compress(images, int(q)))
        assert np.array_equal(together[i], alone[i])
        # A scalar and a (1,) quality are the same.
        one = to_numpy(dct_compress(images[i : i + 1], qualities[i : i + 1]))
        assert np.array_equal(one[0], alone[i])
    assert len({together[i].tobytes() for i in range(len(images))}) == len(images)


def test_dct_quality_zero_is_quality_one_as_in_libjpeg(rgb_odd, adjust):
    images = rgb_odd[:2].astype("float32") / 255
    zero = to_numpy(dct_compress(images, 0))
    assert np.array_equal(zero, to_numpy(dct_compress(images, 1)))
    assert np.array_equal(zero, adjust(images, [0, 0]))


@pytest.mark.parametrize("channels", [1, 3])
def test_dct_in_a_plain_tf_function_compiles_itself_with_xla(channels, rgb_odd, adjust):
    # Keras leaves XLA off on a CPU; the codec then compiles itself, and its
    # pixels are still libjpeg's.
    images = rgb_odd[..., :channels].astype("float32") / 255
    qualities = np.array([1, 12, 35, 50, 77, 100], "int32")[: len(images)]
    outer = tf.function(dct_compress)
    graph_def = outer.get_concrete_function(images, qualities).graph.as_graph_def()
    compiled = [
        f.signature.name
        for f in graph_def.library.function
        if f.attr["_XlaMustCompile"].b
    ]
    assert len(compiled) == 1 and "dct_compress" in compiled[0]
    assert np.array_equal(outer(images, qualities).numpy(), adjust(images, qualities))


def test_dct_under_xla_equals_eager(gray_float, adjust):
    # Grayscale here, RGB in test_dct_layer_compiles_with_xla.
    qualities = np.array([15, 85], "int32")
    eager = to_numpy(dct_compress(gray_float, qualities))
    compiled = tf.function(dct_compress, jit_compile=True)
    np.testing.assert_allclose(
        compiled(gray_float, qualities).numpy(), eager, rtol=0, atol=1e-6
    )
    assert np.array_equal(eager, adjust(gray_float, qualities))


def test_dct_needs_a_static_height_and_width(adjust):
    spec = tf.TensorSpec((None, None, 16, 3), tf.float32)
    traced = tf.function(lambda x: dct_compress(x, 50), input_signature=[spec])
    with pytest.raises(ValueError, match=re.escape("images.shape=(None, None, 16, 3)")):
        traced.get_concrete_function()
    # An unknown batch size is fine.
    spec = tf.TensorSpec((None, 16, 16, 3), tf.float32)
    traced = tf.function(lambda x: dct_compress(x, 50), input_signature=[spec])
    images = np.random.default_rng(0).random((2, 16, 16, 3), dtype="float32")
    assert np.array_equal(traced(images).numpy(), adjust(images, [50, 50]))


def test_straight_through_forward_equals_plain(rgb_odd, gray_float):
    for images in [rgb_odd.astype("float32") / 255, gray_float]:
        plain = to_numpy(dct_compress(images, 20))
        through = to_numpy(dct_compress(images, 20, straight_through=True))
        assert np.array_equal(plain, through)


def test_straight_through_gradient_of_grayscale_is_the_quantization_slope(
    tape_gradient,
):
    # Every rounding passes its gradient and the DCT is orthonormal, so the
    # Jacobian is diagonal: 255.5 (the 8-bit quantization) times 1/255.
    images = np.random.default_rng(3).uniform(0.25, 0.75, (2, 21, 27, 1))
    images = images.astype("float32")
    weights = np.random.default_rng(4).random(images.shape).astype("float32")
    output, gradient = tape_gradient(
        lambda x: dct_compress(x, 50, straight_through=True) * weights, images
    )
    unweighted = to_numpy(dct_compress(images, 50))
    assert np.all((unweighted > 0) & (unweighted < 1))  # nothing clipped
    np.testing.assert_allclose(output, unweighted * weights, rtol=1e-6)
    np.testing.assert_allclose(gradient, weights * 255.5 / 255, rtol=1e-6)
    # Without straight_through the op has no gradient.
    _, none = tape_gradient(lambda x: dct_compress(x, 50), images)
    assert none is None


def _ycbcr_matrices():
    """libjpeg's RGB -> YCbCr and YCbCr -> RGB as matrices of its FIX(c)."""

    def fix(c):
        return int(c * 65536 + 0.5) / 65536

    forward = np.array(
        [
            [fix(0.299), fix(0.587), fix(0.114)],
            [-fix(0.16874), -fix(0.33126), fix(0.5)],
            [fix(0.5), -fix(0.41869), -fix(0.08131)],
        ]
    )
    inverse = np.array(
        [
            [1, 0, fix(1.402)],
            [1, -fix(0.34414), -fix(0.71414)],
            [1, fix(1.772), 0],
        ]
    )
    return forward, inverse


def test_straight_through_gradient_of_rgb_is_the_color_round_trip(tape_gradient):
    # Inside the image every chroma sample is an average of 4 pixels and its
    # upsampling weights sum to 4, so d sum(output[c]) / d input[k] at an
    # interior pixel is 255.5 / 255 * (inverse @ forward)[c, k].
    images = np.random.default_rng(5).uniform(0.3, 0.7, (1, 24, 32, 3))
    images = images.astype("float32")
    forward, inverse = _ycbcr_matrices()
    expected = 255.5 / 255 * inverse @ forward
    for c in range(3):
        output, gradient = tape_gradient(
            lambda x, c=c: dct_compress(x, 30, straight_through=True)[..., c],
            images,
        )
        assert np.all((output > 0) & (output < 1))
        interior = gradient[0, 2:-2, 2:-2]
        assert np.all(np.isfinite(gradient)) and np.all(gradient[..., c] > 0.9)
        np.testing.assert_allclose(
            interior, np.broadcast_to(expected[c], interior.shape), atol=1e-6
        )


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((1, 8, 8, 2), "float32"), "Received: 2 channels"),
        (np.zeros((1, 8, 8, 4), "float32"), "Received: 4 channels"),
        (np.zeros((8, 8, 3), "float32"), "images.shape=(8, 8, 3)"),
        (np.zeros((1, 8, 8, 3), "uint8"), "images.dtype=uint8"),
    ],
)
def test_dct_compress_errors(images, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        dct_compress(images, 50)


@pytest.mark.parametrize("name", dct.__all__)
def test_docstring_example_runs(name, run_example):
    run_example(getattr(dct, name))


_JAX_SCRIPT = """
import sys
import jax, keras, numpy as np
from keras_stability._seeds import StepSeed
from keras_stability.jpeg import dct_compress
from keras_stability.perturbations import JpegCompression

inputs = np.load(sys.argv[1])
images, qualities = inputs["images"], inputs["qualities"]
layer = JpegCompression((10, 90), method="dct", value_range=(0, 255))


@jax.jit
def step(images, pair):
    # One compilation for all: the op, its straight-through gradient, the layer.
    output, backward = jax.vjp(
        lambda x: dct_compress(x, qualities, straight_through=True), images
    )
    (gradient,) = backward(jax.numpy.ones_like(output))
    return output, gradient, layer(images * 255, seed=StepSeed(pair))


pair = np.array([3, 5])
output, gradient, layer_output = step(images, pair)
drawn = keras.random.randint(
    (len(images),), 10, 91, dtype="int32", seed=StepSeed(pair)
)
np.savez(sys.argv[2], output=output, gradient=gradient, layer=layer_output, drawn=drawn)
"""


def test_dct_under_jax_equals_tensorflow(
    rgb_odd, tmp_path, adjust, codec, tape_gradient
):
    pytest.importorskip("jax")
    images = rgb_odd.astype("float32") / 255
    qualities = np.array([1, 12, 35, 50, 77, 100], "int32")
    np.savez(tmp_path / "inputs.npz", images=images, qualities=qualities)
    result = subprocess.run(
        [sys.executable, "-c", _JAX_SCRIPT, tmp_path / "inputs.npz", tmp_path / "out"],
        env={**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = np.load(tmp_path / "out.npz")
    tensorflow = to_numpy(dct_compress(images, qualities))
    np.testing.assert_allclose(out["output"], tensorflow, rtol=0, atol=1e-5)
    assert np.array_equal(out["output"], adjust(images, qualities))
    _, gradient = tape_gradient(
        lambda x: dct_compress(x, qualities, straight_through=True), images
    )
    np.testing.assert_allclose(out["gradient"], gradient, rtol=1e-5, atol=1e-6)
    # The JAX layer's draws are JAX's; each image is libjpeg at its draw.
    assert len(set(out["drawn"])) > 1
    expected = codec(rgb_odd, out["drawn"]).astype("float32")
    assert np.array_equal(out["layer"], expected)
