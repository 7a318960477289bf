"""The distortion families: the default suite, severities and their names."""

import keras
import pytest

from keras_stability import evaluation
from keras_stability import perturbations
from keras_stability.evaluation import families

TESTED = families


def test_docstring_example_runs(public_function, run_example):
    run_example(public_function)


def test_default_suite_is_every_family_at_every_severity():
    suite = evaluation.default_distortions(value_range=(0, 255))
    expected = (
        [f"jpeg@{q}" for q in (10, 30, 50, 70, 90)]
        + [f"thumbnail@{s}" for s in (0.25, 0.5, 0.75)]
        + [f"crop@{o}" for o in (2, 5, 10)]
        + [f"noise@{s}" for s in (0.02, 0.04, 0.08)]
    )
    assert list(suite) == expected
    assert evaluation.JPEG_QUALITIES == (10, 30, 50, 70, 90)
    assert {layer.value_range for layer in suite.values()} == {(0, 255)}
    assert suite["jpeg@30"].quality == 30
    assert isinstance(suite["jpeg@30"].quality, int)
    assert suite["thumbnail@0.5"].scale == 0.5
    assert suite["crop@5"].max_offset == 5
    assert suite["noise@0.04"].stddev == 0.04
    # libjpeg where TensorFlow runs it, the same-pixel DCT method elsewhere.
    tensorflow = keras.backend.backend() == "tensorflow"
    assert suite["jpeg@10"].method == ("libjpeg" if tensorflow else "dct")


def test_family_perturbation_spans_its_severities():
    noise = families.family_perturbation("noise", [0.08, 0.02, 0.04], (-1, 1))
    assert isinstance(noise, perturbations.GaussianNoise)
    assert noise.stddev == (0.02, 0.08) and noise.value_range == (-1, 1)
    # Severities read back from a report are floats; qualities and offsets
    # are cast back to ints.
    jpeg = families.family_perturbation("jpeg", [10.0, 30.0], jpeg_method="dct")
    assert jpeg.quality == (10, 30) and jpeg.method == "dct"
    crop = families.family_perturbation("crop", [5.0, 5.0])
    assert crop.max_offset == 5 and isinstance(crop.max_offset, int)
    thumbnail = families.family_perturbation("thumbnail", 0.25)
    assert thumbnail.scale == 0.25
    with pytest.raises(ValueError, match=r"`family`.*Received: family='blur'$"):
        families.family_perturbation("blur", 1)


def test_severity_table_sorts_numeric_severities():
    report = {
        "num_images": 4,
        "clean/top1": 0.5,
        "jpeg@90/kl": 0.1,
        "jpeg@10/kl": 0.7,
        "jpeg@1e1x/kl": 0.3,
        "crop@2/flip_rate": 0.25,
    }
    assert evaluation.severity_table(report) == {
        "jpeg": {"kl": [(10.0, 0.7), (90.0, 0.1)]},
        "crop": {"flip_rate": [(2.0, 0.25)]},
    }


@pytest.mark.parametrize(
    "condition, expected",
    [
        ("jpeg@10", ("jpeg", 10.0)),
        ("rotate@1.5", ("rotate", 1.5)),
        ("clean", ("clean", None)),
        ("rotate@15deg", ("rotate", None)),
        ("flip@nan", ("flip", None)),
        ("flip@inf", ("flip", None)),
        ("odd@", ("odd", None)),
    ],
)
def test_parse_condition(condition, expected):
    assert families.parse_condition(condition) == expected


def test_strongest_end_and_axis_of_each_family():
    pairs = [(0.5, "b"), (0.25, "a"), (0.75, "c")]
    for family in ("jpeg", "thumbnail"):
        assert families.strongest_first(family, pairs)[0] == (0.25, "a")
        assert families.axis_label(family).endswith("(lower is stronger)")
    for family in ("crop", "noise", "rotate"):
        assert families.strongest_first(family, pairs)[0] == (0.75, "c")
        assert "lower is stronger" not in families.axis_label(family)
    assert families.axis_label("crop") == "crop offset (pixels)"
    assert families.axis_label("noise") == "noise stddev"


def test_resolve_distortion():
    layer = perturbations.GaussianNoise(0.1)
    assert families.resolve_distortion(layer) is layer
    resolved = families.resolve_distortion("noise@0.04", (0, 255))
    assert resolved.stddev == 0.04 and resolved.value_range == (0, 255)
    with pytest.raises(
        ValueError, match=r"`distortion`.*Received: distortion='jpeg@51'$"
    ):
        families.resolve_distortion("jpeg@51")
    with pytest.raises(ValueError, match=r"`distortion`.*Received: distortion=3$"):
        families.resolve_distortion(3)
