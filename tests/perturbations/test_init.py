"""Tests of perturbations/__init__.py: the public names and where they live."""

import keras

from keras_stability import data
from keras_stability import perturbations


def test_all_lists_the_public_names():
    assert sorted(perturbations.__all__) == sorted(
        [
            "Adversarial",
            "Brightness",
            "CLEAN_KEY",
            "Compose",
            "Contrast",
            "DefocusBlur",
            "GaussianBlur",
            "GaussianNoise",
            "ImpulseNoise",
            "JpegCompression",
            "MotionBlur",
            "OneOf",
            "PERTURBED_KEY",
            "Perturbation",
            "Pixelate",
            "RandomCropOffset",
            "Saturate",
            "ShotNoise",
            "ThumbnailResize",
            "apply_perturbation",
            "attack_objective",
            "check_fits",
            "check_perturbation",
            "default_perturbation",
            "needs_objective",
            "split_perturbed_copy",
            "with_perturbed_copy",
        ]
    )
    for name in perturbations.__all__:
        assert getattr(perturbations, name) is not None


def test_perturbed_copy_names_still_import_from_data():
    for name in ("CLEAN_KEY", "PERTURBED_KEY", "split_perturbed_copy"):
        assert getattr(data, name) is getattr(perturbations, name)
    assert data.with_perturbed_copy is perturbations.with_perturbed_copy
    assert set(data.__all__) >= {
        "CLEAN_KEY",
        "PERTURBED_KEY",
        "split_perturbed_copy",
        "with_perturbed_copy",
    }


def test_classes_keep_their_registered_names():
    # Saved .keras files name the classes so; renaming would break loading.
    for name in (
        "Adversarial",
        "Brightness",
        "Compose",
        "Contrast",
        "DefocusBlur",
        "GaussianBlur",
        "GaussianNoise",
        "ImpulseNoise",
        "JpegCompression",
        "MotionBlur",
        "OneOf",
        "Perturbation",
        "Pixelate",
        "RandomCropOffset",
        "Saturate",
        "ShotNoise",
        "ThumbnailResize",
    ):
        cls = getattr(perturbations, name)
        assert keras.saving.get_registered_name(cls) == f"keras_stability>{name}"
