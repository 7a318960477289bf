"""Bad inputs get the exact error below; degenerate but valid ones train without NaN."""

import keras
import numpy as np
import pytest

from keras_stability import StabilityModel
from keras_stability import demo
from keras_stability import evaluation
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
            "alpha negative",
            lambda: _model(alpha=-1.0),
            ValueError,
            r"`alpha` must be a number in \[0, 3\.4028234663852886e\+38\] \(finite in float32\)\. Received: alpha=-1.0",
        ),
        (
            "alpha nan",
            lambda: _model(alpha=float("nan")),
            ValueError,
            r"Received: alpha=nan",
        ),
        (
            "alpha string",
            lambda: _model(alpha="big"),
            ValueError,
            r"Received: alpha='big'",
        ),
        ("alpha bool", lambda: _model(alpha=True), ValueError, r"Received: alpha=True"),
        (
            "unknown stability loss",
            lambda: _model(stability_loss="kld"),
            ValueError,
            r"`stability_loss` must be one of .* Received: stability_loss='kld'",
        ),
        (
            "stability loss of wrong type",
            lambda: _model(stability_loss=1),
            ValueError,
            r"Received: stability_loss=1",
        ),
        (
            "perturbation not callable",
            lambda: _model(perturbation="noise"),
            ValueError,
            r"`perturbation` must be a layer or a callable \(an instance, not a class\)\. "
            r"Received: perturbation='noise'$",
        ),
        (
            "unknown output",
            lambda: _model(stability_outputs=["logits"]),
            ValueError,
            r"`stability_outputs` must name outputs .* Received: stability_outputs=\['logits'\]",
        ),
        (
            "seed float",
            lambda: _model(seed=0.5),
            ValueError,
            r"`seed` must be None or an int in \[0, 2147483647\]\. Received: seed=0.5",
        ),
        (
            "kl on a one-unit output",
            lambda: StabilityModel(*_classifier(units=1, activation="sigmoid")),
            ValueError,
            r"stability_loss='kl' compares class distributions .* has shape \(None, 1\)",
        ),
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
        (
            "NaN in images",
            lambda: _fit(_model(), nan_images),
            ValueError,
            r"`x` holds 1 NaN or inf values out of 256: Stability Training needs finite inputs.",
        ),
        (
            "inf in images",
            lambda: _fit(_model(), inf_images),
            ValueError,
            r"`x` holds 1 NaN or inf values out of 256",
        ),
        (
            "NaN in validation images",
            lambda: (
                _model().compile("sgd", "sparse_categorical_crossentropy")
                or _model().fit(
                    _images(),
                    np.zeros(4),
                    validation_data=(nan_images, np.zeros(4)),
                    verbose=0,
                )
            ),
            ValueError,
            r"`validation_data` holds 1 NaN or inf values",
        ),
        (
            "perturbation that changes the shape",
            lambda: _fit(_model(perturbation=_shrink), _images()),
            ValueError,
            r"turned \[\(4, 8, 8, 1\)\] into \[\(4, 4, 4, 1\)\]",
        ),
        (
            "from_model on a function",
            lambda: StabilityModel.from_model(_shrink),
            ValueError,
            r"`model` must be a keras.Model",
        ),
        (
            "report on a non-classifier",
            lambda: evaluation.robustness_report(
                keras.Model(*_classifier()[:1] * 2),
                _images(),
                distortions={"a@1": _shrink},
                verbose=0,
            ),
            ValueError,
            r"output has shape \(batch, classes\)",
        ),
        (
            "report with no images",
            lambda: evaluation.robustness_report(
                keras.Model(*_classifier()),
                _images()[:0],
                distortions={"n@1": p.GaussianNoise(0.1)},
                verbose=0,
            ),
            ValueError,
            r"received no images",
        ),
        (
            "demo model of an unknown kind",
            lambda: demo.train_model(
                "dropout", _images(), np.zeros(4, "int64"), epochs=1, seed=0
            ),
            ValueError,
            r"`kind` must be one of \('baseline', 'augmentation', 'stability'\). "
            r"Received: kind='dropout'$",
        ),
        (
            "demo with zero epochs",
            lambda: demo.run_demo(epochs=0, verbose=0),
            ValueError,
            r"^`epochs` must be an int >= 1. Received: epochs=0$",
        ),
        (
            "demo with epochs=True",
            lambda: demo.run_demo(epochs=True, verbose=0),
            ValueError,
            r"^`epochs` must be an int >= 1. Received: epochs=True$",
        ),
        (
            "demo with seeds=True",
            lambda: demo.run_demo(seeds=True, verbose=0),
            ValueError,
            r"^`seeds` must be an int >= 1. Received: seeds=True$",
        ),
        (
            "demo with 1.5 seeds",
            lambda: demo.run_demo(quick=True, seeds=1.5, verbose=0),
            ValueError,
            r"^`seeds` must be an int >= 1. Received: seeds=1.5$",
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


def _all_finite(history):
    return all(np.all(np.isfinite(v)) for v in history.history.values())


@pytest.mark.parametrize(
    "name, images, make_perturbation",
    [
        ("all black", np.zeros((8, 8, 8, 1), "float32"), lambda: p.GaussianNoise(0.04)),
        ("all white", np.ones((8, 8, 8, 1), "float32"), lambda: p.GaussianNoise(0.04)),
        pytest.param(
            "all black through JPEG",
            np.zeros((8, 8, 8, 3), "float32"),
            lambda: p.JpegCompression((10, 90)),
            marks=pytest.mark.tensorflow,
        ),
        (
            "all white through crops",
            np.ones((8, 8, 8, 1), "float32"),
            lambda: p.RandomCropOffset(2),
        ),
        (
            "uint8 in 0..255",
            np.random.default_rng(1).integers(0, 256, (8, 8, 8, 1)).astype("uint8"),
            lambda: p.GaussianNoise(0.04, value_range=(0, 255)),
        ),
        ("grayscale thumbnails", _images(8), lambda: p.ThumbnailResize(scale=0.25)),
        ("one image", _images(1), lambda: p.GaussianNoise(0.04)),
    ],
)
@pytest.mark.parametrize("stability_loss", ["kl", "jsd", "l2"])
def test_degenerate_but_valid_inputs_train_without_nan(
    name, images, make_perturbation, stability_loss
):
    model = StabilityModel(
        *_classifier(shape=images.shape[1:]),
        perturbation=make_perturbation(),
        stability_loss=stability_loss,
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    y = np.arange(len(images)) % 3
    history = model.fit(images, y, epochs=3, batch_size=4, verbose=0)
    assert _all_finite(history), name
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


def test_lambda_perturbation_is_refused_under_safe_mode(tmp_path):
    model = StabilityModel(
        *_classifier(), perturbation=keras.layers.Lambda(lambda t: t * 0.5)
    )
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(tmp_path / "lambda.keras")
    loaded = keras.saving.load_model(tmp_path / "lambda.keras", safe_mode=False)
    assert isinstance(loaded, StabilityModel)
