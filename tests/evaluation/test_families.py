"""The distortion families: the default suite, severities and their names."""

import keras
import numpy as np
import pytest
import skimage.data
from keras.ops import convert_to_numpy as to_numpy

from keras_stability import evaluation
from keras_stability import perturbations
from keras_stability._seeds import StepSeed
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


def test_the_families_of_each_suite():
    assert families.DEFAULT_FAMILIES == ("jpeg", "thumbnail", "crop", "noise")
    assert evaluation.CORRUPTION_FAMILIES == (
        "gaussian_noise",
        "shot_noise",
        "impulse_noise",
        "defocus_blur",
        "motion_blur",
        "brightness",
        "contrast",
        "pixelate",
        "jpeg_compression",
        "gaussian_blur",
        "saturate",
    )
    assert set(families.FAMILIES) == set(families.DEFAULT_FAMILIES) | set(
        evaluation.CORRUPTION_FAMILIES
    )
    assert set(families.SUITES) == {"default", "imagenet-c"}


def test_corruption_suite_holds_imagenet_cs_constants():
    suite = evaluation.corruption_distortions(value_range=(0, 255))
    assert list(suite) == [
        f"{family}@{level}"
        for family in evaluation.CORRUPTION_FAMILIES
        for level in (1, 2, 3, 4, 5)
    ]
    assert {layer.value_range for layer in suite.values()} == {(0, 255)}
    # make_imagenet_c.py's constants for 224 x 224 images; lengths in pixels
    # become fractions of the side.
    assert suite["gaussian_noise@2"].stddev == 0.12 and suite["gaussian_noise@2"].clip
    assert suite["shot_noise@1"].stddev == pytest.approx(60**-0.5)
    assert suite["shot_noise@5"].stddev == pytest.approx(3**-0.5)
    assert suite["impulse_noise@4"].amount == 0.17
    assert suite["defocus_blur@3"].radius == pytest.approx(6 / 224)
    assert suite["motion_blur@5"].sigma == pytest.approx(15 / 224)
    assert suite["motion_blur@5"].angle == (-45.0, 45.0)
    assert suite["brightness@5"].delta == 0.5
    assert suite["contrast@1"].factor == 0.4
    assert suite["pixelate@3"].scale == 0.4
    assert suite["jpeg_compression@5"].quality == 7
    assert isinstance(suite["jpeg_compression@5"].quality, int)
    assert suite["gaussian_blur@5"].sigma == pytest.approx(6 / 224)
    assert suite["saturate@5"].factor == 20
    assert isinstance(suite["saturate@3"], perturbations.Saturate)


def test_family_perturbation_maps_levels_to_arguments():
    blur = families.family_perturbation("defocus_blur", [4.0, 2.0], (0, 255))
    assert blur.radius == pytest.approx((4 / 224, 8 / 224))
    # Contrast and pixelation are stronger at lower arguments.
    assert families.family_perturbation("pixelate", [1, 5]).scale == (0.25, 0.6)
    jpeg = families.family_perturbation("jpeg_compression", [1, 2], jpeg_method="dct")
    assert jpeg.quality == (18, 25) and jpeg.method == "dct"
    noise = families.family_perturbation("gaussian_noise", 3)
    assert noise.stddev == 0.18 and noise.clip
    with pytest.raises(
        ValueError, match=r"`shot_noise`.*levels.*Received: severities=\[1, 2.5\]$"
    ):
        families.family_perturbation("shot_noise", [1, 2.5])


def test_levels_are_plotted_strongest_last():
    pairs = [(1.0, "a"), (5.0, "e"), (3.0, "c")]
    for family in evaluation.CORRUPTION_FAMILIES:
        assert families.strongest_first(family, pairs)[0] == (5.0, "e")
    assert families.axis_label("defocus_blur") == "defocus blur (ImageNet-C level)"


@pytest.fixture(scope="module")
def photographs_32():
    """Two 32 x 32 photographs in [0, 1]: 224-pixel crops shrunk 7 times."""
    crops = [
        skimage.data.astronaut()[30:254, 130:354],
        skimage.data.coffee()[:224, 200:424],
    ]
    return np.stack(
        [c.reshape(32, 7, 32, 7, 3).mean(axis=(1, 3)) / 255 for c in crops]
    ).astype("float32")


@pytest.mark.skipif(
    keras.backend.backend() == "jax",
    reason="the 55 layers' first eager calls compile for about a minute on JAX; "
    "the layers' numbers on JAX are tested in tests/perturbations",
)
def test_stronger_levels_move_32_pixel_photographs_further(photographs_32):
    # At 32 x 32 pixels too, every level moves the images further than the
    # level below it. Saturate's levels 1 and 2 desaturate and 3 to 5
    # saturate (ImageNet-C's factors 0.3, 0.1, 2, 5, 20): each side grows.
    x = photographs_32
    changes = {}
    for name, layer in evaluation.corruption_distortions().items():
        family, level = name.split("@")
        out = to_numpy(layer(x, seed=StepSeed(np.array([1, int(level)]))))
        changes.setdefault(family, []).append(np.abs(out - x).mean())
    for family, change in changes.items():
        # Indices of the levels 1 to 5 that must grow.
        steps = (
            [(0, 1), (2, 3), (3, 4)]
            if family == "saturate"
            else [(0, 1), (1, 2), (2, 3), (3, 4)]
        )
        for weaker, stronger in steps:
            assert change[stronger] > change[weaker], (family, change)
