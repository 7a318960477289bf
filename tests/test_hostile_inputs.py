"""Bad inputs get the exact error below; degenerate but valid ones train without NaN."""

import keras
import numpy as np
import pytest

from keras_stability import StabilityModel
from keras_stability import perturbations as p


def _classifier(shape=(8, 8, 1), units=3, activation="softmax"):
    inputs = keras.Input(shape)
    x = keras.layers.Flatten()(inputs)
    return inputs, keras.layers.Dense(units, activation=activation)(x)


def _model(**kwargs):
    return StabilityModel(*_classifier(), **kwargs)


def _images(n=4, size=8, channels=1):
    return np.random.default_rng(0).random((n, size, size, channels)).astype("float32")


def _fit(model, x, y=None):
    model.compile("sgd", "sparse_categorical_crossentropy")
    y = np.zeros(len(x), "int64") if y is None else y
    return model.fit(x, y, epochs=1, batch_size=4, verbose=0)


def _shrink(images):
    return images[:, :4, :4, :]


def _bad_inputs():
    """(id, callable that should raise, exception type, message regex)."""
    nan_images = _images()
    nan_images[1, 2, 3, 0] = np.nan
    inf_images = _images()
    inf_images[0, 0, 0, 0] = np.inf
    return [
        (
            "negative stddev",
            lambda: p.GaussianNoise(-0.1),
            ValueError,
            r"`stddev` must be a number in \[0, 3\.4028234663852886e\+38\] \(finite in float32\)\. Received: stddev=-0.1",
        ),
        (
            "nan stddev",
            lambda: p.GaussianNoise(float("nan")),
            ValueError,
            r"`stddev` must be a number in \[0, 3\.4028234663852886e\+38\] \(finite in float32\)\. Received: stddev=nan",
        ),
        (
            "quality above 100",
            lambda: p.JpegCompression(150),
            ValueError,
            r"`quality` must be in \[0, 100\]. Received: quality=150",
        ),
        (
            "quality range reversed",
            lambda: p.JpegCompression((90, 10)),
            ValueError,
            r"quality=\(90, 10\)",
        ),
        (
            "unknown jpeg method",
            lambda: p.JpegCompression(50, method="png"),
            ValueError,
            r"`method` must be one of .* Received: method='png'",
        ),
        (
            "negative offset",
            lambda: p.RandomCropOffset(-1),
            ValueError,
            r"`max_offset` must be .* Received: max_offset=-1",
        ),
        (
            "scale zero",
            lambda: p.ThumbnailResize(scale=0.0),
            ValueError,
            r"`scale` must be in \(0, 1\]. Received: scale=0.0",
        ),
        (
            "scale above one",
            lambda: p.ThumbnailResize(scale=1.5),
            ValueError,
            r"Received: scale=1.5",
        ),
        (
            "size and scale",
            lambda: p.ThumbnailResize(size=4, scale=0.5),
            ValueError,
            r"^Give either `size` or `scale`, not both\. Received: size=4, scale=0\.5$",
        ),
        (
            "value range reversed",
            lambda: p.GaussianNoise(0.1, value_range=(1, 0)),
            ValueError,
            r"`value_range` must be a pair \(low, high\) with low < high and a width "
            r"high - low finite in float32 \(at most 3\.4028234663852886e\+38\)\. "
            r"Received: value_range=\(1, 0\)$",
        ),
        (
            "empty OneOf",
            lambda: p.OneOf([]),
            ValueError,
            r"`perturbations` must be a non-empty list of layers or callables\. "
            r"Received: perturbations=\[\]$",
        ),
        (
            "negative OneOf weight",
            lambda: p.OneOf(
                [p.GaussianNoise(0.1), p.GaussianNoise(0.2)], weights=[1, -1]
            ),
            ValueError,
            r"`weights` must be non-negative numbers\. Received: weights=\[1, -1\]$",
        ),
        (
            "rank-2 images to a perturbation",
            lambda: p.GaussianNoise(0.1)(np.zeros((4, 8), "float32")),
            ValueError,
            r"Received: inputs.shape=\(4, 8\)",
        ),
        (
            "jpeg on two channels",
            lambda: p.JpegCompression(50)(np.zeros((1, 8, 8, 2), "float32")),
            ValueError,
            r"1 \(grayscale\) or 3 \(RGB\) channels. Received: 2 channels",
        ),
        (
            "crop offset larger than the image",
            lambda: p.RandomCropOffset(10)(np.zeros((1, 8, 8, 1), "float32")),
            ValueError,
            r"`max_offset` must be smaller than the image height and width\. "
            r"Received: max_offset=10 for images of height=8 and width=8",
        ),
    ]


_NEEDS_TENSORFLOW = ("quality", "jpeg")  # libjpeg through tf.image


def _bad_input_params():
    return [
        pytest.param(
            *case[1:],
            id=case[0],
            marks=[pytest.mark.tensorflow]
            if any(word in case[0] for word in _NEEDS_TENSORFLOW)
            else [],
        )
        for case in _bad_inputs()
    ]


@pytest.mark.parametrize("make, error, message", _bad_input_params())
def test_bad_input_gets_a_clear_error(make, error, message):
    with pytest.raises(error, match=message):
        make()
