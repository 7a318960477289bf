"""Choosing a distance threshold: the largest that keeps a target precision.

`calibrate_threshold` reads the precision-recall curve of labelled pairs
(`precision_recall_curve`, so ties are called together as there);
`synthetic_pair_distances` makes such pairs out of unlabelled images: each
image and its distorted copies are near-duplicates, two different images
are not.
"""

from typing import NamedTuple

import numpy as np

from keras_stability._checks import check_float
from keras_stability.evaluation._inputs import distortion_batches
from keras_stability.evaluation._predictions import embeddings
from keras_stability.evaluation.near_duplicates import feature_distances
from keras_stability.evaluation.near_duplicates import precision_recall_curve
from keras_stability.evaluation.pairs import close_pairs

__all__ = [
    "CALIBRATION_DISTORTIONS",
    "CalibratedThreshold",
    "calibrate_threshold",
    "synthetic_pair_distances",
]

# The copies `synthetic_pair_distances` makes of each image by default:
# moderate members of the JPEG, thumbnail and crop families.
CALIBRATION_DISTORTIONS = ("jpeg@50", "thumbnail@0.5", "crop@2")


class CalibratedThreshold(NamedTuple):
    """A threshold and what it gives on the pairs it was calibrated on.

    Args:
        threshold: the distance threshold; a pair is called a near-duplicate
            when its distance is `<= threshold`.
        precision: the share of near-duplicates among the pairs called.
        recall: the share of the near-duplicates that are called.
        num_called: how many pairs are called.
        num_pairs: how many pairs there are.
    """

    threshold: float
    precision: float
    recall: float
    num_called: int
    num_pairs: int


def calibrate_threshold(distances, is_positive, precision=0.99):
    """The largest distance threshold whose calls reach a target precision.

    Among the thresholds of `precision_recall_curve(distances,
    is_positive)` (the distinct distances, pairs at equal distances called
    together), the largest one at which the pairs with distance
    `<= threshold` have at least the target precision. Precision need not
    fall as the threshold grows, so a larger threshold may reach the target
    after a smaller one missed it; the largest is the one with the most
    recall. The threshold is a distance of the data: any value up to the next
    distance calls the same pairs.

    Args:
        distances: 1-D array of pair distances.
        is_positive: 1-D boolean array, same length: which pairs are
            near-duplicates; at least one must be.
        precision: the target precision, a number in (0, 1]. Defaults to
            0.99.

    Returns:
        A `CalibratedThreshold`: `threshold`, the `precision` and `recall` it
        gives, `num_called` (pairs within it) and `num_pairs`.

    Raises:
        ValueError: when no threshold reaches the target, saying the best
            precision any threshold gives.

    Example:

    ```python
    import numpy as np
    from keras_stability.evaluation import calibrate_threshold

    distances = np.array([0.1, 0.2, 0.3, 0.4])
    is_positive = np.array([True, False, True, False])
    # Precision 1, 1/2, 2/3, 1/2 at the four thresholds.
    result = calibrate_threshold(distances, is_positive, precision=0.6)
    assert result.threshold == 0.3 and result.recall == 1.0
    assert result.num_called == 3 and result.num_pairs == 4
    ```
    """
    target = check_float(precision, "precision", 0.0, 1.0, include_low=False)
    precisions, recalls, thresholds, _ = precision_recall_curve(distances, is_positive)
    reaching = np.flatnonzero(precisions >= target)
    if reaching.size == 0:
        best = int(np.argmax(precisions))
        raise ValueError(
            f"No threshold reaches `precision`={target:g}: the best precision is "
            f"{precisions[best]:.4g}, at threshold {thresholds[best]:.4g} (recall "
            f"{recalls[best]:.4g}). Received: precision={precision!r}"
        )
    index = reaching[-1]
    distances = np.asarray(distances, "float64").reshape(-1)
    return CalibratedThreshold(
        threshold=float(thresholds[index]),
        precision=float(precisions[index]),
        recall=float(recalls[index]),
        num_called=int(np.count_nonzero(distances <= thresholds[index])),
        num_pairs=int(distances.size),
    )


def synthetic_pair_distances(
    model,
    images,
    distortions=CALIBRATION_DISTORTIONS,
    *,
    batch_size=128,
    seed=0,
    value_range=(0, 1),
):
    """Labelled pair distances made from unlabelled images, for calibration.

    Positives: each image and its copy under each distortion (the copies of
    `feature_distances`, drawn with `seed`). Negatives: every pair of two
    different images. So the pairs say how far a model moves an image under
    these distortions, and how close distinct images come; what is called
    a precision on them assumes the images hold no near-duplicates of one
    another (any they hold count as negatives, which makes a calibrated
    threshold stricter), and it depends on the share of positives here:
    `len(distortions)` copies per image against `n - 1` other images.

    Args:
        model: a model mapping images to embeddings `(batch, dim)`, called
            with `predict_on_batch`.
        images: array of images, at least 2 (or a `tf.data.Dataset` of
            batches that gives the same images each time it is iterated).
        distortions: a non-empty sequence of distortions: perturbations,
            layers, callables or names from `default_distortions`. Defaults
            to `CALIBRATION_DISTORTIONS`: JPEG at quality 50, a half-size
            thumbnail and a crop shifted by up to 2 pixels.
        batch_size: batch size for arrays. Defaults to 128.
        seed: seed of the distortions, an int in `[0, 2**31 - 1]`.
            Defaults to 0.
        value_range: the images' value range, for distortions given by
            name. Defaults to `(0, 1)`.

    Returns:
        `(distances, is_positive)`: float64 and boolean arrays of
        `n * len(distortions) + n * (n - 1) / 2` pairs, positives first
        (distortion by distortion, image by image), then the negatives
        `(i, j)`, `i < j`, closest first.

    Example:

    ```python
    import keras
    import numpy as np
    from keras_stability.evaluation import calibrate_threshold
    from keras_stability.evaluation import synthetic_pair_distances

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten()])
    images = np.random.default_rng(0).random((6, 8, 8, 1), "float32")
    distances, is_positive = synthetic_pair_distances(
        model, images, ["noise@0.02"], seed=0
    )
    assert distances.shape == (6 + 15,) and is_positive.sum() == 6
    result = calibrate_threshold(distances, is_positive, precision=1.0)
    assert result.recall == 1.0 and result.num_called == 6
    ```
    """
    if isinstance(distortions, str) or not list(distortions):
        raise ValueError(
            "`distortions` must be a non-empty sequence of distortions. "
            f"Received: distortions={distortions!r}"
        )
    positives = [
        feature_distances(
            model,
            images,
            distortion,
            batch_size=batch_size,
            seed=seed,
            value_range=value_range,
        )
        for distortion in distortions
    ]
    batches = distortion_batches(images, None, batch_size, {}, "")
    clean = np.concatenate(
        [
            embeddings(model.predict_on_batch(batch), f"batch {index} of the images")
            for index, batch, _ in batches
        ]
    )
    _, _, negatives = close_pairs(clean, np.inf)
    distances = np.concatenate([*positives, negatives])
    is_positive = np.arange(distances.size) < sum(p.size for p in positives)
    return distances, is_positive
