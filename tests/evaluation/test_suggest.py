"""suggest_perturbation and perturbation_code, against hand-read reports."""

import keras
import pytest

from keras_stability import evaluation
from keras_stability import perturbations
from keras_stability.evaluation import suggest

TESTED = suggest


def test_docstring_example_runs(public_function, run_example):
    run_example(public_function)


def test_suggestable_families_are_the_default_suites():
    families = {name.split("@")[0] for name in evaluation.default_distortions()}
    assert set(evaluation.SUGGESTABLE_FAMILIES) == families


def _flip_report(flips):
    """A report holding only the given `condition -> flip rate` entries."""
    return {"clean/top1": 0.9, **{f"{c}/flip_rate": v for c, v in flips.items()}}


def test_suggestion_weights_families_by_their_strongest_flip_rate():
    report = _flip_report(
        {
            "jpeg@10": 0.04,
            "jpeg@30": 0.03,
            "jpeg@50": 0.01,
            "jpeg@90": 0.0,
            "thumbnail@0.25": 0.12,
            "thumbnail@0.5": 0.05,
            "thumbnail@0.75": 0.0,
            "crop@2": 0.0,
            "crop@5": 0.01,
            "crop@10": 0.01,
            "noise@0.02": 0.02,
            "noise@0.04": 0.08,
            "noise@0.08": 0.24,
        }
    )
    layer = evaluation.suggest_perturbation(report, value_range=(0, 255))
    assert isinstance(layer, perturbations.OneOf)
    # Crops flip 1% at most: below the 2% threshold, left out. The weights
    # are the strongest flip rates over their sum: 0.04, 0.12, 0.24 of 0.4.
    jpeg, thumbnail, noise = layer.perturbations
    assert layer.choice_weights == (0.1, 0.3, 0.6)
    # Each family over the severities that flip at least 2%, strongest
    # first: JPEG 10 and 30, thumbnails 0.25 and 0.5, noise 0.02 to 0.08.
    assert isinstance(jpeg, perturbations.JpegCompression)
    assert jpeg.quality == (10, 30) and jpeg.method == "dct"
    assert isinstance(thumbnail, perturbations.ThumbnailResize)
    assert thumbnail.scale == (0.25, 0.5)
    assert isinstance(noise, perturbations.GaussianNoise)
    assert noise.stddev == (0.02, 0.08)
    assert {e.value_range for e in layer.perturbations} == {(0, 255)}
    # A higher threshold keeps only the strongest severities.
    strict = evaluation.suggest_perturbation(report, min_flip_rate=0.1)
    assert [type(e).__name__ for e in strict.perturbations] == [
        "ThumbnailResize",
        "GaussianNoise",
    ]
    assert strict.perturbations[0].scale == 0.25
    assert strict.perturbations[1].stddev == 0.08
    assert strict.choice_weights == (0.33, 0.67)


def test_suggestion_of_one_family_is_its_layer_and_crops_take_an_offset_range():
    report = _flip_report({"crop@2": 0.05, "crop@5": 0.2, "crop@10": 0.5})
    layer = evaluation.suggest_perturbation(report, jpeg_method="libjpeg")
    assert isinstance(layer, perturbations.RandomCropOffset)
    assert layer.max_offset == (2, 10)
    # Unknown families of a custom suite are left out.
    other = evaluation.suggest_perturbation({**report, "rotate@30/flip_rate": 0.9})
    assert isinstance(other, perturbations.RandomCropOffset)
    assert other.max_offset == (2, 10)


def test_suggestion_errors():
    with pytest.raises(ValueError, match=r"No family.*min_flip_rate=0.02.*noise"):
        evaluation.suggest_perturbation(_flip_report({"noise@0.08": 0.01}))
    with pytest.raises(
        ValueError, match=r"`min_flip_rate`.*Received: min_flip_rate=2$"
    ):
        evaluation.suggest_perturbation(
            _flip_report({"noise@0.08": 0.5}), min_flip_rate=2
        )
    with pytest.raises(ValueError, match=r"`report`.*Received: report=\[0\.1\]$"):
        evaluation.suggest_perturbation([0.1])


def test_perturbation_code_builds_the_same_layer():
    layers = [
        perturbations.GaussianNoise((0.01, 0.05), clip=True),
        perturbations.JpegCompression((10, 50), method="dct", seed=3),
        perturbations.ThumbnailResize(size=(8, 12), interpolation="nearest"),
        perturbations.OneOf(
            [perturbations.RandomCropOffset(3), perturbations.GaussianNoise()],
            weights=[2, 1],
        ),
        perturbations.Compose([perturbations.GaussianNoise(0.1)], seed=7),
    ]

    def unnamed(layer):
        config = layer.get_config()
        del config["name"]
        config["perturbations"] = [
            unnamed(e) for e in getattr(layer, "perturbations", [])
        ]
        return config

    for layer in layers:
        code = evaluation.perturbation_code(layer)
        rebuilt = eval(code, {"perturbations": perturbations})
        assert unnamed(rebuilt) == unnamed(layer), code
    # Defaults are left out.
    assert (
        evaluation.perturbation_code(perturbations.GaussianNoise())
        == "perturbations.GaussianNoise()"
    )
    with pytest.raises(
        ValueError, match=r"`perturbation`.*Received: perturbation=<GaussianNoise"
    ):
        evaluation.perturbation_code(keras.layers.GaussianNoise(0.1))
