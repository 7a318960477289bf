"""Near-duplicate detection on real photographs: pHash, triplet loss, + stability.

The paper's ranking experiment, small enough for a laptop, with the
comparison users make. An embedding CNN (64-d, L2-normalised) learns from
32x32 patches of photographs that ship inside scikit-image and scikit-learn
(no download) with the batch-mined triplet loss
`keras_stability.losses.TripletSemiHardLoss`, trained three ways from the
same start on the same batches:

- baseline: the triplet loss alone (a plain `keras.Model`);
- stabilized: a `StabilityModel` with the L2 stability term
  (`stability_loss="l2"`, `alpha=1.0`) and the paper's training
  perturbation, pixel-wise Gaussian noise of stddev 0.04. The evaluated
  distortions below are never seen in training, as in the paper;
- stabilized (mix): a `StabilityModel(stability_loss="l2")` with the
  library's defaults, `default_perturbation` (one of noise, JPEG, crop and
  thumbnail per image) and `DEFAULT_ALPHA`. The evaluated families are among
  those it trains on (at other severities): what a user gets who wants a
  finder for these distortions.

Against them, `imagehash`'s perceptual hash (pHash, 64 bits, Hamming
distance), which needs no training.

Training data. Each class is one location in a training photograph; its
members are 32x32 crops around it shifted by up to 3 pixels, with a small
random change of brightness (+-0.05) and contrast (x0.9 to x1.1). Every step
draws 16 fresh locations with 4 members each, so semi-hard triplets are
mined among 64 patches. Training photographs: astronaut, coffee, rocket,
immunohistochemistry, hubble_deep_field and retina (scikit-image) and
china.jpg (scikit-learn).

Evaluation. Held-out photographs (scikit-image's chelsea and the left view
of stereo_motorcycle, scikit-learn's flower.jpg) are cut into
non-overlapping 32x32 tiles; flat tiles (pixel stddev < 0.04) are skipped,
since two patches of blank sky are near-duplicates of each other. For each
distortion, `keras_stability.evaluation.near_duplicate_pr` pairs every tile
with its distorted copy (positives) and with 10 other tiles (negatives, so
positives are 1/11 of the pairs) and reports the average precision of
"distance <= threshold" (PR-AUC), the best precision at recall >= 0.9 and
the best recall at precision >= 0.99 (what a finder calibrated for 99%
precision finds). The same seed gives every model the same copies and the
same negatives. Distortions: JPEG quality 50, crop (a
window shifted by up to 3 pixels, about 10% of the 32-pixel patch, resized
back), thumbnail (half size and back). All photographs are brought to a
short side of 256 pixels first.

Why 24 epochs of 50 steps: stability training converges more slowly than
the triplet loss alone, and after a third of that the stabilized networks
trailed pHash further (both runs are in `benchmarks/RESULTS.md`).

Why 10 negatives per tile: in a one-seed check on tiles of the training
photographs (never the held-out ones), one negative per tile left both
models at PR-AUC 0.95 or more on every distortion, too close to 1 to
compare them.

    python examples/near_duplicates.py                # 3 seeds (~10 min on 2 cores)
    python examples/near_duplicates.py --quick --output /tmp/nd   # seconds

Writes `precision_recall_<distortion>.png` (PR curves, one thin line per
seed) and `distance_cdf_<distortion>.png` (the cumulative distribution of
D(f(x), f(x')) pooled over seeds, for the networks) into `--output`.
"""

import argparse
import os
import time

import imagehash
import keras
import numpy as np
from PIL import Image

from keras_stability import StabilityModel
from keras_stability import datasets
from keras_stability import evaluation
from keras_stability import perturbations
from keras_stability import plotting
from keras_stability.losses import TripletSemiHardLoss

PATCH_SIZE = 32
SHORT_SIDE = 256
MAX_SHIFT = 3
CROP_OFFSET = round(0.1 * PATCH_SIZE)  # the paper's crop-10 is ~5% of 224 px
MIN_TILE_STDDEV = 0.04
CLASSES_PER_BATCH = 16
MEMBERS_PER_CLASS = 4
EMBEDDING_DIM = 64
ALPHA = 1.0
NOISE_STDDEV = 0.04

TRAIN_PHOTOS = (
    "astronaut",
    "coffee",
    "rocket",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
    "china.jpg",
)
TEST_PHOTOS = ("chelsea", "stereo_motorcycle", "flower.jpg")
# pHash needs no training; the three networks share their start and batches.
LABELS = ("pHash", "baseline", "stabilized", "stabilized (mix)")
# The models whose distances are L2 between unit-norm embeddings.
NETWORKS = LABELS[1:]


def textured_locations(photo, rng, count):
    """Top-left corners of `count` crops that are not flat, with room to shift."""
    height, width = photo.shape[:2]
    corners = []
    while len(corners) < count:
        y = int(rng.integers(MAX_SHIFT, height - PATCH_SIZE - MAX_SHIFT + 1))
        x = int(rng.integers(MAX_SHIFT, width - PATCH_SIZE - MAX_SHIFT + 1))
        if photo[y : y + PATCH_SIZE, x : x + PATCH_SIZE].std() >= MIN_TILE_STDDEV:
            corners.append((y, x))
    return corners


def training_batch(photos, rng):
    """16 locations x 4 jittered members: a batch for semi-hard mining."""
    images, labels = [], []
    for label in range(CLASSES_PER_BATCH):
        photo = photos[int(rng.integers(len(photos)))]
        ((y, x),) = textured_locations(photo, rng, 1)
        for _ in range(MEMBERS_PER_CLASS):
            dy, dx = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=2)
            crop = photo[y + dy : y + dy + PATCH_SIZE, x + dx : x + dx + PATCH_SIZE]
            contrast = rng.uniform(0.9, 1.1)
            brightness = rng.uniform(-0.05, 0.05)
            crop = (crop - crop.mean()) * contrast + crop.mean() + brightness
            images.append(np.clip(crop, 0.0, 1.0))
            labels.append(label)
    return np.stack(images).astype("float32"), np.asarray(labels, "int32")


def test_tiles(photos, limit=None):
    """Non-overlapping, non-flat 32x32 tiles of the held-out photographs."""
    tiles = []
    for photo in photos:
        height, width = photo.shape[:2]
        for y in range(0, height - PATCH_SIZE + 1, PATCH_SIZE):
            for x in range(0, width - PATCH_SIZE + 1, PATCH_SIZE):
                tile = photo[y : y + PATCH_SIZE, x : x + PATCH_SIZE]
                if tile.std() >= MIN_TILE_STDDEV:
                    tiles.append(tile)
    tiles = np.stack(tiles).astype("float32")
    if limit is not None and limit < len(tiles):
        tiles = tiles[np.random.default_rng(0).permutation(len(tiles))[:limit]]
    return tiles


class PerceptualHash:
    """imagehash's pHash as an embedding model: 64 bits per image, as 0 and 1.

    Each image goes to 8-bit RGB, as if saved to a file, and `imagehash.phash`
    hashes it with its defaults (the 32x32 grayscale DCT, whose 8x8 lowest
    frequencies are compared with their median): a 32x32 tile is hashed at
    its own size. The L2 distance of two bit vectors is the square root of
    their Hamming distance, so every threshold calls the same pairs as a
    Hamming threshold: the PR curve is pHash's own.
    """

    def predict_on_batch(self, images):
        pixels = np.clip(keras.ops.convert_to_numpy(images), 0.0, 1.0)
        pixels = np.round(pixels * 255).astype("uint8")
        hashes = [imagehash.phash(Image.fromarray(image)).hash for image in pixels]
        return np.stack(hashes).reshape(len(pixels), -1).astype("float32")


def embedding_network():
    """Inputs and 64-d unit-norm outputs of a small CNN."""
    inputs = keras.Input((PATCH_SIZE, PATCH_SIZE, 3))
    x = inputs
    for filters in (32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(128, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(EMBEDDING_DIM)(x)
    return inputs, keras.layers.UnitNormalization()(x)


def build_model(label, seed):
    """The network `label` names; all start from the same weights."""
    keras.utils.set_random_seed(seed)
    inputs, outputs = embedding_network()
    if label == "stabilized":
        model = StabilityModel(
            inputs,
            outputs,
            perturbation=perturbations.GaussianNoise(NOISE_STDDEV),
            stability_loss="l2",
            alpha=ALPHA,
            seed=seed,
        )
    elif label == "stabilized (mix)":
        model = StabilityModel(inputs, outputs, stability_loss="l2", seed=seed)
    else:
        model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=TripletSemiHardLoss())
    return model


def train(model, photos, seed, epochs, steps_per_epoch):
    """Fresh batches each step from `seed`; the same batches for both models."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        batches = [training_batch(photos, rng) for _ in range(steps_per_epoch)]
        x = np.concatenate([images for images, _ in batches])
        y = np.concatenate([labels for _, labels in batches])
        # One batch is one group of 16 classes x 4 members: keep the order.
        model.fit(x, y, batch_size=len(batches[0][0]), shuffle=False, verbose=0)
    return model


def distortions():
    """The evaluated distortions; the crop offset is ~10% of the patch."""
    return {
        "jpeg@50": perturbations.JpegCompression(50),
        f"crop@{CROP_OFFSET}": perturbations.RandomCropOffset(CROP_OFFSET),
        "thumbnail@0.5": perturbations.ThumbnailResize(scale=0.5),
    }


def format_table(results, names):
    """Mean ± std over seeds of PR-AUC, precision at recall 0.9, recall at
    precision 0.99."""
    metrics = (
        ("pr_auc", "PR-AUC"),
        ("precision_at_recall_0.9", "P@R0.9"),
        ("recall_at_precision_0.99", "R@P0.99"),
    )
    models = list(results)
    header = ["distortion", "metric", *models]
    rows = [header]
    for name in names:
        for key, title in metrics:
            row = [name, title]
            for model in models:
                values = [r[key] for r in results[model][name]]
                row.append(f"{np.mean(values):.3f} ± {np.std(values):.3f}")
            rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="training seeds")
    parser.add_argument("--epochs", type=int, default=24, help="epochs per model")
    parser.add_argument("--steps", type=int, default=50, help="batches per epoch")
    parser.add_argument(
        "--negatives", type=int, default=10, help="negative pairs per tile"
    )
    parser.add_argument("--output", default="near_duplicates_output", help="folder")
    parser.add_argument("--quick", action="store_true", help="tiny run for tests")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.steps = 1, 1, 3
    if args.seeds < 1 or args.epochs < 1 or args.steps < 1:
        parser.error("--seeds, --epochs and --steps must be >= 1")
    start = time.time()
    train_photos = [datasets.load_picture(name, SHORT_SIDE) for name in TRAIN_PHOTOS]
    tiles = test_tiles(
        [datasets.load_picture(name, SHORT_SIDE) for name in TEST_PHOTOS],
        limit=64 if args.quick else None,
    )
    names = list(distortions())
    results = {label: {n: [] for n in names} for label in LABELS}
    for seed in range(args.seeds):
        for label in results:
            if label == "pHash":
                model = PerceptualHash()
            else:
                model = build_model(label, seed)
                train(model, train_photos, seed, args.epochs, args.steps)
            for name, distortion in distortions().items():
                results[label][name].append(
                    evaluation.near_duplicate_pr(
                        model,
                        tiles,
                        distortion,
                        negatives_per_image=args.negatives,
                        seed=seed,
                    )
                )
    minutes = (time.time() - start) / 60
    print(
        f"Near-duplicate detection on {len(tiles)} held-out tiles "
        f"x {args.negatives} negatives ({args.seeds} seed(s), "
        f"{args.epochs} epoch(s) x {args.steps} steps, "
        f"{minutes:.1f} min); mean ± std over seeds"
    )
    print(format_table(results, names))
    os.makedirs(args.output, exist_ok=True)
    for name in names:
        tag = name.replace("@", "")
        plotting.plot_precision_recall(
            {label: results[label][name] for label in results},
            os.path.join(args.output, f"precision_recall_{tag}.png"),
            title=f"Near-duplicates under {name}",
        )
        # The networks' L2 distances only: pHash's are in other units.
        plotting.plot_distance_cdf(
            {
                label: np.concatenate(
                    [r["positive_distances"] for r in results[label][name]]
                )
                for label in NETWORKS
            },
            os.path.join(args.output, f"distance_cdf_{tag}.png"),
            title=f"D(f(x), f(x')) under {name}",
        )
    print(f"Plots written to {args.output}")
    return results


if __name__ == "__main__":
    main()
