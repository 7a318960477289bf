"""Near-duplicate detection: the paper's ranking evaluation of embeddings.

Each image and its distorted copy form a positive pair, each image and a
few other images negative pairs; a model whose embeddings stay close under
distortion ranks the positives first. `near_duplicate_pr` gives the
precision-recall curve of that ranking (and recall@k: how often each image
finds its own copy among its nearest copies), `feature_distances` the
distances of the positive pairs alone.
"""

import reprlib

import numpy as np

from keras_stability._checks import check_int
from keras_stability._seeds import MAX_SEED
from keras_stability.evaluation._distances import l2
from keras_stability.evaluation._inputs import distortion_batches
from keras_stability.evaluation._predictions import embeddings
from keras_stability.evaluation.distort import distort_batch
from keras_stability.evaluation.families import resolve_distortion
from keras_stability.evaluation.retrieval import recall_at_k

__all__ = [
    "PRECISION_LEVELS",
    "RECALL_LEVELS",
    "feature_distances",
    "near_duplicate_pr",
    "negative_partners",
    "precision_recall_curve",
]

# The recalls at which `near_duplicate_pr` reports the best precision.
RECALL_LEVELS = (0.9, 0.95)

# The precisions at which `near_duplicate_pr` reports the best recall.
PRECISION_LEVELS = (0.99,)


def negative_partners(count, negatives_per_image, seed=0):
    """For each image, `negatives_per_image` distinct other images, at random.

    Args:
        count: the number of images, an int >= 2.
        negatives_per_image: how many partners per image, in
            `[1, count - 1]`.
        seed: seed of the draw, an int in `[0, 2**31 - 1]` (the range of
            `near_duplicate_pr`, which passes its seed on). Defaults to 0.

    Returns:
        An int array `(count, negatives_per_image)`; row `i` holds distinct
        indices, none equal to `i`.

    Example:

    ```python
    import numpy as np
    from keras_stability.evaluation import negative_partners

    partners = negative_partners(5, 2, seed=0)
    assert partners.shape == (5, 2)
    assert not np.any(partners == np.arange(5)[:, None])
    assert all(row[0] != row[1] for row in partners)
    ```
    """
    check_int(count, "count", 2)
    _validate_negatives(negatives_per_image, count)
    # Only NumPy sees this seed, but it is the seed of `near_duplicate_pr`,
    # whose distortions take it as a backend seed: one range for both.
    check_int(seed, "seed", 0, MAX_SEED)
    rng = np.random.default_rng(seed)
    # Row i takes the offsets with the k smallest of n - 1 uniform keys: a
    # uniform k-subset of {1, ..., n - 1}, so never the image itself. Rows go
    # in chunks of about 2**20 keys.
    rows_per_chunk = max(1, 2**20 // (count - 1))
    offsets = np.concatenate(
        [
            1
            + np.argpartition(
                rng.random((min(rows_per_chunk, count - start), count - 1)),
                negatives_per_image - 1,
                axis=1,
            )[:, :negatives_per_image]
            for start in range(0, count, rows_per_chunk)
        ]
    )
    return (np.arange(count)[:, None] + offsets) % count


def precision_recall_curve(distances, is_positive):
    """Precision and recall of `distance <= threshold` at every threshold.

    The thresholds are the distinct distances, ascending; at threshold `t`
    every pair with distance `<= t` is called a near-duplicate, so tied
    pairs are always called together. Recall rises to 1 at the largest
    threshold.

    Formula:

    ```
    precision(t) = #{positives <= t} / #{pairs <= t}
    recall(t) = #{positives <= t} / #{positives}
    average_precision = sum_k (recall_k - recall_{k-1}) * precision_k,
        recall_0 = 0
    ```

    Args:
        distances: 1-D array of pair distances.
        is_positive: 1-D boolean array, same length: which pairs are
            near-duplicates; at least one must be.

    Returns:
        `(precision, recall, thresholds, average_precision)`: three NumPy
        arrays of one length and a float.

    Example:

    ```python
    import numpy as np
    from keras_stability.evaluation import precision_recall_curve

    distances = np.array([0.1, 0.2, 0.3, 0.4])
    is_positive = np.array([True, False, True, False])
    precision, recall, thresholds, average_precision = precision_recall_curve(
        distances, is_positive
    )
    assert np.allclose(precision, [1, 1 / 2, 2 / 3, 1 / 2])
    assert np.allclose(recall, [0.5, 0.5, 1, 1])
    assert np.isclose(average_precision, 0.5 * 1 + 0.5 * 2 / 3)
    ```
    """
    try:
        distances = np.asarray(distances, "float64").reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(
            "`distances` must be numbers. "
            f"Received: distances={reprlib.repr(distances)}"
        ) from None
    finite = np.isfinite(distances)
    if not np.all(finite):
        raise ValueError(
            "`distances` must be finite. Received: "
            f"{int(np.sum(~finite))} NaN or inf values among {distances.size} "
            "distances"
        )
    flags = np.asarray(is_positive).reshape(-1)
    if flags.dtype.kind not in "biuf" or not np.all((flags == 0) | (flags == 1)):
        raise ValueError(
            "`is_positive` must hold booleans (or 0 and 1). "
            f"Received: is_positive={reprlib.repr(is_positive)}"
        )
    is_positive = flags.astype(bool)
    if distances.shape != is_positive.shape or not is_positive.any():
        raise ValueError(
            "`distances` and `is_positive` must have the same length, with at "
            f"least one positive. Received {distances.size} distances and "
            f"{int(is_positive.sum())} positives among {is_positive.size}."
        )
    order = np.argsort(distances, kind="stable")
    distances, is_positive = distances[order], is_positive[order]
    true_positives = np.cumsum(is_positive)
    called = np.arange(1, distances.size + 1)
    # The last pair of each run of equal distances closes its threshold.
    last = np.r_[np.flatnonzero(np.diff(distances)), distances.size - 1]
    precision = true_positives[last] / called[last]
    recall = true_positives[last] / true_positives[-1]
    average_precision = float(np.sum(np.diff(recall, prepend=0.0) * precision))
    return precision, recall, distances[last], average_precision


def near_duplicate_pr(
    model,
    images,
    distortion,
    *,
    negatives_per_image=1,
    batch_size=128,
    seed=0,
    value_range=(0, 1),
):
    """Near-duplicate detection by thresholding embedding distance, as a PR curve.

    The paper's ranking evaluation. Each image and its distorted copy form a
    positive pair; each image and `negatives_per_image` other images, drawn
    with `seed` and never the image itself, form negative pairs (ordered,
    so the pair `(i, j)` may also appear as `(j, i)`). Both members of a
    negative pair are clean. Every pair gets the L2 distance of the model's
    embeddings, and a pair is called a near-duplicate when its distance is
    `<= threshold`; sweeping the threshold over every distance gives the
    precision-recall curve (see `precision_recall_curve`).

    `pr_auc` is the average precision as scikit-learn defines it (a step
    sum, not the trapezoidal area, which is optimistic): the mean over
    positives of the precision at the threshold that first includes them,
    ties included together. A perfect ranking gives 1, and a constant
    embedding (every distance tied) gives exactly `positive_share`.

    A `Perturbation` distortion is called with `training=True` and a
    `StepSeed` of `[seed, batch_index]`, so the distorted copies, and the
    result, are a function of `seed`.

    Args:
        model: a model mapping images to embeddings `(batch, dim)`, called
            with `predict_on_batch`.
        images: array or tensor of images, or a `tf.data.Dataset` of image
            batches (or `(images, labels)` batches); at least 2 images.
        distortion: a `Perturbation`, any Keras layer (called with
            `training=True`), a callable on a batch that keeps its shape, or
            a name from `default_distortions(value_range)` such as
            `"jpeg@50"`.
        negatives_per_image: how many other images each image is paired
            with, in `[1, number of images - 1]`. Defaults to 1 (as many
            negatives as positives).
        batch_size: batch size for arrays. Defaults to 128.
        seed: seed of the distortion and of the negatives, an int in
            `[0, 2**31 - 1]`. Defaults to 0.
        value_range: the images' value range, used to resolve a distortion
            given by name. Images outside the distortion's own range are
            refused (see `Perturbation.check_images`). Defaults to `(0, 1)`.

    Returns:
        A dict with `pr_auc` (float), `precision`, `recall`, `thresholds`
        (NumPy arrays, one entry per distinct distance, ascending),
        `precision_at_recall_0.9` and `precision_at_recall_0.95` (the
        highest precision among thresholds with recall >= 0.9 or 0.95),
        `recall_at_precision_0.99` (the highest recall among thresholds with
        precision >= 0.99, the recall `calibrate_threshold` gives at that
        target; 0.0 when no threshold reaches it),
        `recall_at_1`, `recall_at_5` and `recall_at_10` (`recall_at_k` of
        each clean image among all the distorted copies, its own copy the
        one of its label), `positive_share` (positive pairs / all pairs),
        `num_pairs`,
        `num_images`, and the distances themselves as
        `positive_distances` (`(n,)`, D(f(x), f(x')) per image) and
        `negative_distances` (`(n, negatives_per_image)`).

    Example:

    ```python
    import keras
    import numpy as np
    from keras_stability.evaluation import near_duplicate_pr
    from keras_stability.perturbations import GaussianNoise

    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.UnitNormalization()(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    images = np.random.default_rng(0).random((32, 8, 8, 3), "float32")
    result = near_duplicate_pr(model, images, GaussianNoise(0.02), seed=0)
    assert result["pr_auc"] > 0.99 and result["num_pairs"] == 64
    ```

    Reference:
        - [Zheng et al., "Improving the Robustness of Deep Neural Networks via
          Stability Training", CVPR 2016](https://arxiv.org/abs/1604.04326)
    """
    _validate_negatives(negatives_per_image, _image_count(images))
    check_int(seed, "seed", 0, MAX_SEED)
    distortion = resolve_distortion(distortion, value_range)
    clean, distorted = _clean_and_distorted_embeddings(
        model, images, distortion, batch_size, seed
    )
    count = len(clean)
    partners = negative_partners(count, negatives_per_image, seed)
    positive_distances = l2(clean, distorted)
    negative_distances = l2(clean[:, None, :], clean[partners])
    distances = np.concatenate([positive_distances, negative_distances.reshape(-1)])
    is_positive = np.arange(distances.size) < count
    precision, recall, thresholds, average_precision = precision_recall_curve(
        distances, is_positive
    )
    result = {
        "pr_auc": average_precision,
        "precision": precision,
        "recall": recall,
        "thresholds": thresholds,
    }
    for level in RECALL_LEVELS:
        result[f"precision_at_recall_{level}"] = float(precision[recall >= level].max())
    for level in PRECISION_LEVELS:
        reaching = recall[precision >= level]
        result[f"recall_at_precision_{level}"] = (
            float(reaching.max()) if reaching.size else 0.0
        )
    identities = np.arange(count)
    for k, value in recall_at_k(clean, distorted, identities, identities).items():
        result[f"recall_at_{k}"] = value
    result.update(
        {
            "positive_share": count / distances.size,
            "num_pairs": int(distances.size),
            "num_images": count,
            "positive_distances": positive_distances,
            "negative_distances": negative_distances,
        }
    )
    return result


def feature_distances(
    model, images, distortion, *, batch_size=128, seed=0, value_range=(0, 1)
):
    """D(f(x), f(x')): the L2 distance of each image's embedding to its copy's.

    The quantity whose cumulative distribution the paper plots to show
    stability directly. The distorted copies are drawn exactly as in
    `near_duplicate_pr` with the same `seed` and `batch_size`, so these are
    its `positive_distances`.

    Args:
        model: a model mapping images to embeddings `(batch, dim)`.
        images: array or tensor of images, or a `tf.data.Dataset` of
            batches; at least 2 images.
        distortion: a perturbation, layer, callable, or a name from
            `default_distortions(value_range)`.
        batch_size: batch size for arrays. Defaults to 128.
        seed: seed of the distortion, an int in `[0, 2**31 - 1]`. Defaults
            to 0.
        value_range: the images' value range, used to resolve a distortion
            given by name. Images outside the distortion's own range are
            refused (see `Perturbation.check_images`). Defaults to `(0, 1)`.

    Returns:
        A float64 NumPy array `(num_images,)`.

    Example:

    ```python
    import keras
    import numpy as np
    from keras_stability.evaluation import feature_distances

    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten()])
    images = np.zeros((3, 4, 4, 1), "float32")
    # Each copy moves all 16 pixels by 0.5: a distance of sqrt(16 * 0.25).
    distances = feature_distances(model, images, lambda x: x + 0.5)
    assert np.allclose(distances, 2.0)
    ```
    """
    _image_count(images)
    check_int(seed, "seed", 0, MAX_SEED)
    distortion = resolve_distortion(distortion, value_range)
    clean, distorted = _clean_and_distorted_embeddings(
        model, images, distortion, batch_size, seed
    )
    return l2(clean, distorted)


def _clean_and_distorted_embeddings(model, images, distortion, batch_size, seed):
    """f(x) and f(x') for every image, in batches; x' drawn from (seed, batch)."""
    batches = distortion_batches(
        images,
        None,
        batch_size,
        {"distortion": distortion},
        "to this function (for a distortion given by name) or to the distortion",
    )
    clean, distorted = [], []
    for batch_index, batch, _ in batches:
        clean.append(
            embeddings(
                model.predict_on_batch(batch), f"batch {batch_index} of the images"
            )
        )
        copies = distort_batch(distortion, batch, (seed, batch_index))
        distorted.append(
            embeddings(
                model.predict_on_batch(copies),
                f"batch {batch_index} under `distortion`",
            )
        )
    _check_count(sum(len(c) for c in clean))
    return np.concatenate(clean), np.concatenate(distorted)


def _check_count(count):
    if count < 2:
        raise ValueError(
            f"Near-duplicate evaluation needs at least 2 images. Received: {count}."
        )


def _validate_negatives(negatives_per_image, count=None):
    check_int(negatives_per_image, "negatives_per_image", 1)
    if count is not None and negatives_per_image >= count:
        raise ValueError(
            "`negatives_per_image` must be smaller than the number of images "
            f"({count}): an image is never its own negative. "
            f"Received: negatives_per_image={negatives_per_image}"
        )


def _image_count(images):
    """The number of array images, at least 2; None for a dataset."""
    if hasattr(images, "as_numpy_iterator"):
        return None  # Counted once embedded.
    count = int(np.shape(images)[0])
    _check_count(count)
    return count
