"""StabilityModel's checks: bad arguments at construction, bad inputs before a step.

Each error is pinned by the argument it names and the value it received.
"""

import re

import keras
import numpy as np
import pytest
from keras import ops

from keras_stability import StabilityModel
from keras_stability import losses
from keras_stability import perturbations


def _dense_output(activation=None, name="head"):
    # Image inputs, so that the default perturbation (a crop) applies.
    inputs = keras.Input((6, 6, 1))
    hidden = keras.layers.Dense(5, activation="relu")(keras.layers.Flatten()(inputs))
    return inputs, keras.layers.Dense(3, activation=activation, name=name)(hidden)


@pytest.mark.parametrize(
    "inputs, perturbation, message",
    [
        # The default perturbation distorts images.
        (
            lambda: keras.Input((10,), name="features"),
            None,
            "`perturbation` cannot apply to images of shape (None, 10)",
        ),
        (
            lambda: keras.Input((4, 4, 1), name="tiny"),
            perturbations.RandomCropOffset(4),
            "Received: max_offset=4 for images of height=4 and width=4",
        ),
        (
            lambda: keras.Input((8, 8, 4), name="rgba"),
            perturbations.JpegCompression(50, method="dct"),
            "images of shape (None, 8, 8, 4): JPEG encoding needs images "
            "with 1 (grayscale) or 3 (RGB) channels",
        ),
        (
            lambda: keras.Input((8, 8, 3)),
            perturbations.GaussianNoise,
            "Received: perturbation=<class ",
        ),
    ],
)
def test_a_perturbation_that_cannot_apply_is_refused_at_construction(
    inputs, perturbation, message
):
    inputs = inputs()
    outputs = keras.layers.Dense(3, activation="softmax")(
        keras.layers.Flatten()(inputs) if len(inputs.shape) > 2 else inputs
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        StabilityModel(inputs, outputs, perturbation=perturbation)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"alpha": -0.1},
            r"Received: alpha=-0.1$",
        ),
        ({"alpha": float("inf")}, r"Received: alpha=inf"),
        # Finite in float64 but inf in the float32 loss it scales.
        (
            {"alpha": 1e39},
            r"Received: alpha=1e\+39$",
        ),
        ({"alpha": float("nan")}, r"Received: alpha=nan"),
        ({"alpha": "1"}, r"Received: alpha='1'"),
        ({"alpha": True}, r"Received: alpha=True$"),
        (
            {"perturbation": 3},
            r"Received: perturbation=3$",
        ),
        ({"stability_loss": "kld"}, r"Received: stability_loss='kld'"),
        ({"stability_loss": 1}, r"Received: stability_loss=1$"),
        (
            {"stability_outputs": ["nope"]},
            r"Received: stability_outputs=\['nope'\]",
        ),
        (
            {"seed": 1.5},
            r"Received: seed=1.5$",
        ),
        (
            {"seed": True},
            r"Received: seed=True$",
        ),
        (
            {"seed": -5},
            r"Received: seed=-5$",
        ),
        ({"seed": 2**31}, r"Received: seed=2147483648$"),
        ({"seed": 2**33}, r"Received: seed=8589934592$"),
        (
            {"seed": 2**70},
            r"Received: seed=1180591620717411303424$",
        ),
        (
            {"stability_outputs": 5},
            r"Received: stability_outputs=5$",
        ),
        (
            {"from_logits": "no"},
            r"Received: from_logits='no'$",
        ),
        (
            {"from_logits": "False"},
            r"Received: from_logits='False'$",
        ),
        ({"from_logits": 0}, r"Received: from_logits=0$"),
        (
            {"stop_gradient_clean": "no"},
            r"Received: stop_gradient_clean='no'$",
        ),
        (
            {"stop_gradient_clean": None},
            r"Received: stop_gradient_clean=None$",
        ),
    ],
)
def test_bad_arguments_raise_at_construction(kwargs, message):
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2, activation="softmax")(inputs)
    with pytest.raises(ValueError, match=message):
        StabilityModel(inputs, outputs, **kwargs)


@pytest.mark.parametrize(
    "stability_loss, shown",
    [
        ("l2", "'l2'"),
        ("squared_l2", "'squared_l2'"),
        # A loss object keeps its own from_logits; the model's would be ignored.
        (losses.KLDivergence(), "<keras_stability.losses.KLDivergence"),
        (losses.L2Distance(), "<keras_stability.losses.L2Distance"),
        (losses.kl_divergence, "<function kl_divergence"),
    ],
)
def test_from_logits_is_refused_where_it_would_be_ignored(stability_loss, shown):
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2)(inputs)
    with pytest.raises(
        ValueError,
        match=r"`from_logits=True` applies only to stability_loss 'kl', "
        r"'cross_entropy' or 'jsd' given by name .*Received: "
        rf"stability_loss={shown}.*, from_logits=True$",
    ):
        StabilityModel(inputs, outputs, stability_loss=stability_loss, from_logits=True)


@pytest.mark.parametrize(
    "stability_loss", ["kl", "cross_entropy", "jsd", losses.KLDivergence()]
)
def test_linear_output_read_as_probabilities_is_refused(stability_loss):
    with pytest.raises(
        ValueError,
        match=r"Output 'head' comes from layer 'head', whose activation is "
        r"linear: it holds logits.*(Pass|Build the loss with) `from_logits=True`.*"
        r"Received: from_logits=False$",
    ):
        StabilityModel(*_dense_output(), stability_loss=stability_loss)
    # An explicit linear Activation layer holds logits as well.
    inputs, dense = _dense_output(name="logits")
    linear = keras.layers.Activation("linear", name="head")(dense)
    with pytest.raises(ValueError, match=r"Output 'head' comes from layer 'head'"):
        StabilityModel(inputs, linear, stability_loss=stability_loss)


@pytest.mark.parametrize(
    "make_loss, advice",
    [
        (
            keras.losses.KLDivergence,
            r"Use stability_loss='kl' with `from_logits=True` "
            r"\(keras.losses.KLDivergence takes no `from_logits`\)",
        ),
        (
            keras.losses.CategoricalCrossentropy,
            r"Build the loss with `from_logits=True`",
        ),
    ],
    ids=["KLDivergence", "CategoricalCrossentropy"],
)
def test_keras_probability_losses_on_a_linear_output_are_refused(make_loss, advice):
    # What the refusal prevents: Keras clips both sides to [epsilon, 1], so
    # two different rows of negative logits are "identical" distributions.
    clean = np.array([[-1.0, -2.0, -3.0]], "float32")
    perturbed = np.array([[-3.0, -1.0, -0.5]], "float32")
    assert float(keras.losses.KLDivergence()(clean, perturbed)) == 0.0
    with pytest.raises(
        ValueError,
        match=r"^Output 'head' comes from layer 'head', whose activation is linear"
        r".*" + advice + r", or end the output in a softmax\. "
        r"Received: from_logits=False$",
    ):
        StabilityModel(*_dense_output(), stability_loss=make_loss())
    # On a softmax head they are fine, and the crossentropy takes logits.
    StabilityModel(*_dense_output("softmax"), stability_loss=make_loss())
    StabilityModel(
        *_dense_output(),
        stability_loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    )


def test_outputs_not_known_to_be_logits_are_accepted():
    # A softmax head, as probabilities.
    assert StabilityModel(*_dense_output("softmax")).from_logits is False
    # Logits with from_logits=True, by name or on the loss object.
    assert StabilityModel(*_dense_output(), from_logits=True).from_logits is True
    StabilityModel(*_dense_output(), stability_loss=losses.KLDivergence(True))
    # Distances compare raw outputs; a linear head is fine.
    StabilityModel(*_dense_output(), stability_loss="l2")
    # A softmax outside a layer's `activation` (its own layer, or an op).
    inputs, logits = _dense_output()
    StabilityModel(inputs, keras.layers.Softmax()(logits))
    StabilityModel(inputs, keras.ops.softmax(logits))
    # A linear head left out of the stability term.
    inputs = keras.Input((6, 6, 1))
    flat = keras.layers.Flatten()(inputs)
    probabilities = keras.layers.Dense(3, activation="softmax", name="p")(flat)
    embedding = keras.layers.Dense(2, name="embedding")(flat)
    StabilityModel(inputs, [probabilities, embedding], stability_outputs=["p"])
    with pytest.raises(ValueError, match=r"Output 'embedding' comes from layer"):
        StabilityModel(inputs, [probabilities, embedding])


def _image_classifier(size=16, channels=3, **kwargs):
    inputs = keras.Input((size, size, channels))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    model = StabilityModel(inputs, outputs, seed=0, **kwargs)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def test_fit_refuses_images_outside_the_perturbations_range(rng):
    levels = (rng.random((8, 16, 16, 3)) * 255).astype("float32")
    labels = np.arange(8) % 2
    model = _image_classifier()
    # The argument, the values seen and the range that fits them.
    expected = r"`x` does not fit.*\[0\.\d+, 25\d\.\d+\].*value_range=\(0, 255\)"
    with pytest.raises(ValueError, match=expected):
        model.fit(levels, labels, verbose=0)
    with pytest.raises(ValueError, match=r"`validation_data` does not fit"):
        model.fit(levels / 255, labels, validation_data=(levels, labels), verbose=0)
    with pytest.raises(ValueError, match=r"`x` does not fit"):
        model.evaluate(levels, labels, verbose=0)
    # Built for the images' range, the same model trains.
    fitting = _image_classifier(
        perturbation=perturbations.default_perturbation(
            (16, 16, 3), value_range=(0, 255)
        )
    )
    history = fitting.fit(levels, labels, epochs=1, verbose=0)
    assert np.isfinite(history.history["stability_loss"][0])
    # Another layer or a callable is not judged.
    _image_classifier(perturbation=lambda x: x * 1.0).fit(levels, labels, verbose=0)


def _write_png_folder(root, rng, count=8):
    """Two classes of smooth 20x20 pictures, as 8-bit PNG files."""
    ramp = np.linspace(0, 1, 20)
    for label, name in enumerate(("dark", "light")):
        (root / name).mkdir(parents=True)
        for index in range(count):
            base = 0.2 + 0.5 * label + 0.2 * np.add.outer(ramp, ramp) / 2
            image = base[..., None] + 0.02 * rng.normal(size=(20, 20, 3))
            pixels = np.clip(image * 255, 0, 255).astype("uint8")
            keras.utils.save_img(root / name / f"{index}.png", pixels, scale=False)
    return root


@pytest.mark.tensorflow
def test_trains_on_image_dataset_from_directory_end_to_end(tmp_path, rng):
    folder = _write_png_folder(tmp_path / "images", rng)
    dataset = keras.utils.image_dataset_from_directory(
        folder, image_size=(16, 16), batch_size=4, seed=0, verbose=False
    )
    batch, _ = next(iter(dataset))
    assert float(np.max(batch)) > 100  # Keras yields 0..255 floats
    # The default perturbation is built for [0, 1]: refused with the fix.
    with pytest.raises(ValueError, match=r"value_range=\(0, 255\)"):
        _image_classifier().fit(dataset, epochs=1, verbose=0, shuffle=False)
    layer = perturbations.default_perturbation((16, 16, 3), value_range=(0, 255))
    model = _image_classifier(perturbation=layer)
    history = model.fit(dataset, epochs=2, verbose=0, shuffle=False)
    assert np.all(np.isfinite(history.history["loss"]))
    # The copies stay pictures on the 0..255 scale: with the wrong range the
    # JPEG branch would turn them white (a mean change of about 127 levels).
    copies = ops.convert_to_numpy(layer(batch, training=True))
    assert np.abs(copies - batch.numpy()).mean() < 25
    assert copies.max() < 300 and copies.min() > -45


@pytest.mark.tensorflow
def test_a_later_batch_outside_the_range_stops_training(rng):
    import tensorflow as tf

    images = rng.random((8, 16, 16, 3)).astype("float32")
    images[4:] *= 255  # the second batch is on the 0..255 scale
    dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(8) % 2))
    model = _image_classifier(perturbation=perturbations.GaussianNoise(0.1))
    # The first batch passes `fit`'s look; the step's own check stops it.
    with pytest.raises(tf.errors.InvalidArgumentError, match="value_range"):
        model.fit(dataset.batch(4), epochs=1, verbose=0, shuffle=False)


@pytest.mark.parametrize(
    "perturbation", [None, perturbations.RandomCropOffset(4)], ids=["default", "crop"]
)
def test_images_of_another_size_get_keras_shape_error(perturbation, rng):
    # Keras's own check of the inputs comes before any perturbation, whose
    # crop would otherwise fail on the unexpected size.
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    model = StabilityModel(
        inputs,
        keras.layers.Dense(3, activation="softmax")(pooled),
        perturbation=perturbation,
        seed=0,
    )
    model.compile("sgd", "sparse_categorical_crossentropy")
    small = rng.random((8, 16, 16, 3)).astype("float32")
    for run in (
        lambda: model.fit(small, np.zeros(8), verbose=0),
        lambda: model.evaluate(small, np.zeros(8), verbose=0),
        lambda: model(small, training=True),
    ):
        with pytest.raises(ValueError, match=r"expected shape=\(None, 32, 32, 3\)"):
            run()


def _classifier(shape=(8, 8, 1), units=3, activation="softmax"):
    inputs = keras.Input(shape)
    x = keras.layers.Flatten()(inputs)
    return inputs, keras.layers.Dense(units, activation=activation)(x)


def _images(rng, n=4):
    return rng.random((n, 8, 8, 1)).astype("float32")


def test_a_distribution_loss_on_a_one_unit_output_is_refused():
    with pytest.raises(ValueError, match=r"stability_loss='kl'.*shape \(None, 1\)"):
        StabilityModel(*_classifier(units=1, activation="sigmoid"))


def test_from_model_refuses_what_is_not_a_model():
    with pytest.raises(ValueError, match=r"`model` .*Received: model=<function"):
        StabilityModel.from_model(lambda x: x)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("argument", ["x", "validation_data"])
def test_non_finite_inputs_are_refused_before_any_step(argument, bad_value, rng):
    model = StabilityModel(*_classifier(), seed=0)
    model.compile("sgd", "sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    good, bad = _images(rng), _images(rng)
    bad[1, 2, 3, 0] = bad_value
    labels = np.zeros(4, "int64")
    # The argument, how many values and out of how many.
    with pytest.raises(ValueError, match=rf"`{argument}` holds 1 NaN or inf .* 256"):
        if argument == "x":
            model.fit(bad, labels, verbose=0)
        else:
            model.fit(good, labels, validation_data=(bad, labels), verbose=0)
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    with pytest.raises(ValueError, match=r"`x` holds 1 NaN or inf"):
        model.evaluate(bad, labels, verbose=0)


def test_a_perturbation_that_changes_the_shape_is_refused_in_the_step(rng):
    model = StabilityModel(*_classifier(), perturbation=lambda x: x[:, :4, :4, :])
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"\[\(4, 8, 8, 1\)\] into \[\(4, 4, 4, 1\)\]"):
        model.fit(_images(rng), np.zeros(4, "int64"), batch_size=4, verbose=0)
