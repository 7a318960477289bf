"""Small image classification tasks built from images that ship with packages.

Nothing here downloads. Each loader returns `((x_train, y_train), (x_test,
y_test))` with float32 images in [0, 1] and int64 labels, split with a fixed
seed so that no test image shares a pixel with a training image:

- `load_digits`: scikit-learn's 1,797 scanned digits, brought up to 32x32.
- `load_photographs`: 32x32 colour patches of ten photographs shipped with
  scikit-image and scikit-learn; the class is the photograph.
- `load_grayscale`: 32x32 patches of seven grayscale pictures shipped with
  scikit-image (a camera man, coins, a scanned page, text, brick, grass,
  gravel); the class is the picture.

The patch tasks cut every picture into square blocks one and a half times the
patch size and hold out a fixed share of the blocks: training patches come from the other
blocks only, so train and test regions are disjoint. Nearly flat patches
(pixel standard deviation under `min_stddev`) are skipped: a patch of black
sky says nothing about which picture it came from.
"""

import numpy as np
from keras import ops

from keras_stability._checks import check_int
from keras_stability._checks import is_number

__all__ = [
    "GRAYSCALE_PICTURES",
    "PHOTOGRAPHS",
    "TASKS",
    "load_digits",
    "load_grayscale",
    "load_photographs",
    "load_picture",
    "load_task",
]

# Natural colour photographs: nine from scikit-image, two from scikit-learn
# (stereo_motorcycle is the left view of the stereo pair).
PHOTOGRAPHS = (
    "astronaut",
    "chelsea",
    "coffee",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "rocket",
    "stereo_motorcycle",
    "china.jpg",
    "flower.jpg",
)

# Natural grayscale pictures shipped with scikit-image: a scene, coins, a
# scanned page, text on a sign and three textures. The moon, the clock and
# the cell are left out: most of their windows are nearly flat (pixel
# standard deviation under 0.04).
GRAYSCALE_PICTURES = (
    "brick",
    "camera",
    "coins",
    "grass",
    "gravel",
    "page",
    "text",
)


def _import_error(package, error):
    # Raised `from` the original error by the callers.
    return ImportError(
        f"The bundled images ship with {package}: "
        "pip install 'keras-stability[examples]'"
    )


def load_picture(name, short_side=256, color_mode="rgb"):
    """One picture shipped with scikit-image or scikit-learn, in [0, 1].

    The picture is resized (with anti-aliasing) so that its shorter side is
    `short_side` pixels.

    Args:
        name: a scikit-image `skimage.data` name (`"astronaut"`, `"camera"`,
            `"stereo_motorcycle"` for its left view ...) or a scikit-learn
            sample image (`"china.jpg"`, `"flower.jpg"`).
        short_side: the length of the shorter side after resizing, an int
            >= 8. Defaults to 256.
        color_mode: `"rgb"` (grayscale pictures repeated over 3 channels) or
            `"grayscale"` (colour pictures converted by luminance). Defaults
            to `"rgb"`.

    Returns:
        A float32 array `(height, width, channels)` in [0, 1].

    Example:

    ```python
    from keras_stability.datasets import load_picture

    image = load_picture("coins", short_side=64, color_mode="grayscale")
    assert min(image.shape[:2]) == 64 and image.shape[2] == 1
    assert 0 <= image.min() and image.max() <= 1
    ```
    """
    check_int(short_side, "short_side", 8)
    if color_mode not in ("rgb", "grayscale"):
        raise ValueError(
            '`color_mode` must be "rgb" or "grayscale". '
            f"Received: color_mode={color_mode!r}"
        )
    try:
        from skimage import color
        from skimage import data as skimage_data
        from skimage.transform import resize
    except ImportError as error:
        raise _import_error("scikit-image", error) from error
    if isinstance(name, str) and name.endswith(".jpg"):
        try:
            from sklearn.datasets import load_sample_image
        except ImportError as error:
            raise _import_error("scikit-learn", error) from error
        try:
            image = load_sample_image(name)
        except AttributeError:
            image = None
    elif name == "stereo_motorcycle":
        image = skimage_data.stereo_motorcycle()[0]
    elif isinstance(name, str) and name in skimage_data.__all__:
        image = getattr(skimage_data, name)()
    else:
        image = None
    if image is None:
        raise ValueError(
            "`name` must be a picture of `skimage.data` or a scikit-learn "
            f"sample image ('china.jpg', 'flower.jpg'). Received: name={name!r}"
        )
    image = np.asarray(image)
    if image.dtype == np.uint8:
        image = image.astype("float32") / 255.0
    image = image.astype("float32")
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    if color_mode == "grayscale" and image.ndim == 3:
        image = color.rgb2gray(image)
    if image.ndim == 2:
        image = image[..., None]
    if color_mode == "rgb" and image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    height, width = image.shape[:2]
    scale = short_side / min(height, width)
    shape = (max(1, round(height * scale)), max(1, round(width * scale)))
    resized = resize(image, shape, anti_aliasing=scale < 1, preserve_range=True)
    # Resampling may overshoot [0, 1] by float slack, never more.
    return np.clip(resized, 0.0, 1.0).astype("float32")


def _check_fraction(value, name):
    if not (is_number(value) and 0 < value < 1):
        raise ValueError(f"`{name}` must be in (0, 1). Received: {name}={value!r}")
    return float(value)


def _windows(picture, block, patch_size, min_stddev):
    """The `patch_size` windows inside one block that are not nearly flat.

    Windows start every eighth of the patch size, so neighbours overlap
    inside the block and never reach into another block.
    """
    row, column = block
    side = 3 * patch_size // 2
    stride = max(1, patch_size // 8)
    found = []
    for dy in range(0, side - patch_size + 1, stride):
        for dx in range(0, side - patch_size + 1, stride):
            y, x = row * side + dy, column * side + dx
            patch = picture[y : y + patch_size, x : x + patch_size]
            if patch.std() >= min_stddev:
                found.append(patch)
    return found


def _patch_task(
    names,
    color_mode,
    *,
    patch_size,
    train_per_class,
    test_per_class,
    test_fraction,
    short_side,
    min_stddev,
    seed,
):
    """Patches of each picture, split by blocks; the class is the picture."""
    check_int(patch_size, "patch_size", 8)
    check_int(train_per_class, "train_per_class", 1)
    check_int(test_per_class, "test_per_class", 1)
    check_int(seed, "seed", 0)
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    if not (is_number(min_stddev) and min_stddev >= 0):
        raise ValueError(
            f"`min_stddev` must be a number >= 0. Received: min_stddev={min_stddev!r}"
        )
    if short_side is None:
        short_side = 8 * patch_size
    check_int(short_side, "short_side", 3 * patch_size)
    rng = np.random.default_rng(seed)
    wanted = {"train": train_per_class, "test": test_per_class}
    splits = {"train": ([], []), "test": ([], [])}
    for label, name in enumerate(names):
        picture = load_picture(name, short_side, color_mode)
        side = 3 * patch_size // 2
        windows = {
            (row, column): _windows(picture, (row, column), patch_size, min_stddev)
            for row in range(picture.shape[0] // side)
            for column in range(picture.shape[1] // side)
        }
        # Held-out blocks are drawn among those with a window to offer, so
        # a picture with large flat areas still has test patches.
        textured = [block for block, found in windows.items() if found]
        order = rng.permutation(len(textured))
        held_out = min(len(textured) - 1, max(1, round(test_fraction * len(textured))))
        chosen = {
            "test": [textured[i] for i in order[:held_out]],
            "train": [textured[i] for i in order[held_out:]],
        }
        for split, blocks in chosen.items():
            found = [patch for block in blocks for patch in windows[block]]
            if len(found) < wanted[split]:
                raise ValueError(
                    f"The picture {name!r} has {len(found)} {split} patches of "
                    f"size {patch_size} with a pixel stddev >= {min_stddev}, "
                    f"fewer than the {wanted[split]} asked for: lower "
                    f"`{split}_per_class` or `min_stddev`, or raise `short_side`."
                )
            keep = rng.choice(len(found), wanted[split], replace=False)
            splits[split][0].extend(found[i] for i in sorted(keep))
            splits[split][1].extend([label] * wanted[split])
    (x_train, y_train), (x_test, y_test) = (
        (np.stack(x).astype("float32"), np.asarray(y, "int64"))
        for x, y in (splits["train"], splits["test"])
    )
    return (x_train, y_train), (x_test, y_test)


def load_photographs(
    patch_size=32,
    train_per_class=200,
    test_per_class=50,
    test_fraction=0.25,
    short_side=None,
    min_stddev=0.04,
    seed=0,
):
    """Colour patches of ten photographs; the class is the photograph.

    The photographs are `PHOTOGRAPHS` (an astronaut, a cat, coffee, a galaxy
    field, a stained tissue, a retina, a rocket, a motorcycle, a temple, a
    flower), each resized to a shorter side of `short_side` pixels and cut
    into blocks of `1.5 * patch_size` pixels. A fixed `test_fraction` of each
    photograph's blocks gives the test patches, the rest the training
    patches: windows of `patch_size` at a stride of an eighth of it inside
    the blocks, of which `train_per_class` and `test_per_class` are drawn.

    Args:
        patch_size: side of the square patches, an int >= 8. Defaults to 32.
        train_per_class: training patches per photograph. Defaults to 200.
        test_per_class: test patches per photograph. Defaults to 50.
        test_fraction: share of each photograph's blocks held out, in
            (0, 1). Defaults to 0.25.
        short_side: the photographs' shorter side in pixels, an int >=
            `3 * patch_size`. Defaults to `None` (`8 * patch_size`).
        min_stddev: patches whose pixel standard deviation is lower are
            skipped. Defaults to 0.04.
        seed: seed of the block split and of the draws. Defaults to 0.

    Returns:
        `((x_train, y_train), (x_test, y_test))`: float32 images `(n,
        patch_size, patch_size, 3)` in [0, 1] and int64 labels, indices
        into `PHOTOGRAPHS`.

    Example:

    ```python
    from keras_stability.datasets import load_photographs

    (x_train, y_train), (x_test, y_test) = load_photographs(
        patch_size=16, train_per_class=20, test_per_class=5)
    assert x_train.shape == (200, 16, 16, 3) and x_test.shape == (50, 16, 16, 3)
    assert set(y_test) == set(range(10))
    ```
    """
    return _patch_task(
        PHOTOGRAPHS,
        "rgb",
        patch_size=patch_size,
        train_per_class=train_per_class,
        test_per_class=test_per_class,
        test_fraction=test_fraction,
        short_side=short_side,
        min_stddev=min_stddev,
        seed=seed,
    )


def load_grayscale(
    patch_size=32,
    train_per_class=200,
    test_per_class=50,
    test_fraction=0.25,
    short_side=None,
    min_stddev=0.04,
    seed=0,
):
    """Grayscale patches of seven pictures; the class is the picture.

    The pictures are `GRAYSCALE_PICTURES` (brick, a camera man, coins,
    grass, gravel, a scanned page, text on a sign), split into training and
    test patches as in `load_photographs`.

    Args:
        The same as `load_photographs`'s, counted per picture.

    Returns:
        `((x_train, y_train), (x_test, y_test))`: float32 images `(n,
        patch_size, patch_size, 1)` in [0, 1] and int64 labels, indices
        into `GRAYSCALE_PICTURES`.

    Example:

    ```python
    from keras_stability.datasets import load_grayscale

    (x_train, y_train), (x_test, y_test) = load_grayscale(
        patch_size=16, train_per_class=20, test_per_class=5)
    assert x_train.shape == (140, 16, 16, 1) and set(y_train) == set(range(7))
    ```
    """
    return _patch_task(
        GRAYSCALE_PICTURES,
        "grayscale",
        patch_size=patch_size,
        train_per_class=train_per_class,
        test_per_class=test_per_class,
        test_fraction=test_fraction,
        short_side=short_side,
        min_stddev=min_stddev,
        seed=seed,
    )


def load_digits(image_size=32, test_fraction=0.25, seed=0):
    """scikit-learn's 1,797 handwritten digits as images in [0, 1].

    The 8x8 scans (16 grey levels) are brought up to `image_size` with
    bilinear resizing and split into train and test with a fixed seed,
    stratified by class.

    Args:
        image_size: side of the square output images, >= 8. Defaults to 32.
        test_fraction: share of each class held out, in (0, 1), large
            and small enough to leave at least one image in each split.
            Defaults to 0.25.
        seed: seed of the split. Defaults to 0.

    Returns:
        `((x_train, y_train), (x_test, y_test))`, images of shape
        `(n, image_size, image_size, 1)` float32 in [0, 1] and int labels.

    Example:

    ```python
    from keras_stability.datasets import load_digits

    (x_train, y_train), (x_test, y_test) = load_digits(image_size=8, seed=0)
    assert x_train.shape[1:] == (8, 8, 1) and len(x_train) + len(x_test) == 1797
    assert 0 <= x_train.min() and x_train.max() <= 1
    assert set(y_test) == set(range(10))
    ```
    """
    check_int(image_size, "image_size", 8)
    check_int(seed, "seed", 0)
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as error:
        raise _import_error("scikit-learn", error) from error
    digits = sklearn_digits()
    images = (digits.images / 16.0).astype("float32")[..., None]
    if image_size != 8:
        images = ops.convert_to_numpy(
            ops.image.resize(images, (image_size, image_size), interpolation="bilinear")
        )
        images = np.clip(images, 0.0, 1.0)  # bilinear stays in range; float slack
    labels = digits.target.astype("int64")
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        chosen = rng.choice(members, round(len(members) * test_fraction), replace=False)
        test[chosen] = True
    if test.all() or not test.any():
        raise ValueError(
            "`test_fraction` must leave at least one of the "
            f"{len(labels)} images in each split; it rounds to "
            f"{int(test.sum())} test images. "
            f"Received: test_fraction={test_fraction!r}"
        )
    return (images[~test], labels[~test]), (images[test], labels[test])


# The bundled tasks by name, for the demo, the benchmark and the tests.
TASKS = {
    "photographs": load_photographs,
    "grayscale": load_grayscale,
    "digits": load_digits,
}


def load_task(name, **kwargs):
    """The bundled task `name` (a key of `TASKS`), loaded with `kwargs`.

    Example:

    ```python
    from keras_stability.datasets import load_task

    (x_train, _), _ = load_task("digits", image_size=8)
    assert x_train.shape[1:] == (8, 8, 1)
    ```
    """
    if name not in TASKS:
        raise ValueError(
            f"`name` must be one of {sorted(TASKS)}. Received: name={name!r}"
        )
    return TASKS[name](**kwargs)
