"""Tests of perturbations/defaults.py: the default perturbation."""

import pytest

from keras_stability import perturbations
from keras_stability.perturbations import GaussianNoise
from keras_stability.perturbations import JpegCompression
from keras_stability.perturbations import OneOf
from keras_stability.perturbations import RandomCropOffset
from keras_stability.perturbations import ThumbnailResize


def test_default_perturbation_mixes_the_four_families_at_drawn_severities():
    layer = perturbations.default_perturbation((32, 32, 3), value_range=(0, 255))
    noise, jpeg, crop, thumbnail = layer.perturbations
    assert isinstance(layer, OneOf) and layer.choice_weights is None
    assert isinstance(noise, GaussianNoise) and noise.stddev == (0.02, 0.1)
    assert isinstance(jpeg, JpegCompression) and jpeg.quality == (10, 90)
    assert jpeg.method == "dct"  # every backend, compiles with XLA
    assert isinstance(crop, RandomCropOffset) and crop.max_offset == (2, 8)
    assert isinstance(thumbnail, ThumbnailResize) and thumbnail.scale == (0.25, 0.75)
    assert {e.value_range for e in layer.perturbations} == {(0, 255)}


@pytest.mark.parametrize(
    "shape, offsets, families",
    [
        ((32, 32, 3), (2, 8), 4),
        ((224, 224, 3), (2, 8), 4),  # the suite's crops are in pixels
        ((16, 24, 1), (2, 4), 4),  # at most a quarter of the shorter side
        ((4, 4, 3), (1, 1), 4),
        ((32, 32, 4), (2, 8), 3),  # JPEG needs 1 or 3 channels
        ((None, None, 3), (2, 8), 4),
        ((8, 32, 32, 3), (2, 8), 4),  # a batch dimension in front
    ],
)
def test_default_perturbation_fits_the_image_shape(shape, offsets, families):
    layer = perturbations.default_perturbation(shape)
    crops = [e for e in layer.perturbations if isinstance(e, RandomCropOffset)]
    assert crops[0].max_offset == offsets
    assert len(layer.perturbations) == families
    layer.compute_output_shape((2, *shape[-3:]))  # applies to such images


def test_default_perturbation_needs_an_image_shape():
    with pytest.raises(ValueError, match="Received: input_shape=\\(10,\\)"):
        perturbations.default_perturbation((10,))


def test_docstring_example_runs(run_example):
    run_example(perturbations.default_perturbation)
