"""Shared fixtures: quiet TensorFlow, fixed seeds, docstring examples."""

import doctest
import html.parser
import os
import re
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import skimage.color  # noqa: E402
import skimage.data  # noqa: E402

try:
    import tensorflow as tf
except ImportError:  # the venvs without TensorFlow, where these tests are skipped
    tf = None


@pytest.fixture(autouse=True)
def _fixed_seeds():
    """Every test starts from the same NumPy, Python and backend seeds."""
    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def _image_tree(root, rng, channels=3, extensions=("png", "gif", "JPG")):
    """Two classes of random images of several sizes, some in a subfolder.

    Returns `{(class, index): pixels}` of what was written.
    """
    sizes = {"b_dogs": [(37, 23), (8, 8), (64, 50)], "a_cats": [(5, 90), (32, 32)]}
    written = {}
    for name, shapes in sizes.items():
        (root / name / "nested").mkdir(parents=True)
        for i, shape in enumerate(shapes):
            image = (rng.random((*shape, channels)) * 255).astype("uint8")
            written[name, i] = image
            for extension in extensions:
                folder = root / name / ("nested" if extension == "JPG" else "")
                keras.utils.save_img(folder / f"{i}.{extension}", image, scale=False)
    return written


@pytest.fixture
def image_tree():
    """Writes `_image_tree(root, rng, channels, extensions)`: a folder of classes."""
    return _image_tree


@pytest.fixture
def run_example():
    """Runs the `Example:` of an object's docstring and fails if it fails.

    The example is either one ```python block, run as a script, or `>>>`
    lines, run by `doctest` in the namespace of the object's module against
    the outputs written under them.
    """

    def run(obj):
        doc = obj.__doc__ or ""
        name = getattr(obj, "__qualname__", repr(obj))
        assert "Example:" in doc, f"{name} has no Example section"
        blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
        if blocks:
            assert len(blocks) == 1, f"{name} has {len(blocks)} python blocks"
            exec(textwrap.dedent(blocks[0]), {})
            return
        # As `doctest.testmod` does: the names of the defining module.
        module = sys.modules[getattr(obj, "__module__", "builtins")]
        globs = dict(vars(module))
        test = doctest.DocTestParser().get_doctest(doc, globs, name, None, 0)
        assert test.examples, f"{name} has neither a python block nor >>> lines"
        report = []
        runner = doctest.DocTestRunner(
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        )
        result = runner.run(test, out=report.append)
        assert result.failed == 0, "".join(report)

    return run


def pytest_collection_modifyitems(config, items):
    """On JAX or PyTorch, the tests marked `tensorflow` are skipped."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"needs the TensorFlow backend, not {backend}")
    for item in items:
        if "tensorflow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def value_and_gradient():
    """`fn(x)`, a scalar, and its gradient with respect to `x`, on any backend."""

    def evaluate(fn, x):
        x = np.asarray(x)
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            variable = tf.Variable(x)
            with tf.GradientTape() as tape:
                value = fn(variable)
            return float(value), tape.gradient(value, variable).numpy()
        if backend == "jax":
            import jax

            value, gradient = jax.value_and_grad(fn)(jax.numpy.asarray(x))
            return float(value), np.asarray(gradient)
        import torch

        tensor = torch.tensor(x, requires_grad=True)
        value = fn(tensor)
        value.backward()
        return float(value.detach()), tensor.grad.numpy()

    return evaluate


def _lowbias32(x):
    """Chris Wellons's lowbias32 hash of a 32-bit unsigned int, as in its C code."""
    x ^= x >> 16
    x = (x * 0x7FEB352D) % 2**32
    x ^= x >> 15
    x = (x * 0x846CA68B) % 2**32
    return x ^ (x >> 16)


def _portable_uniform(shape, pair):
    """`_seeds.portable_uniform` in plain Python integers, from `seed.next()`."""
    word0, word1 = (int(w) % 2**32 for w in pair)
    key0 = _lowbias32((word0 + 0x9E3779B9) % 2**32)
    key1 = _lowbias32(word1 ^ key0)
    draws = [
        (_lowbias32((_lowbias32(index ^ key0) + key1) % 2**32) >> 8) / 2**24
        for index in range(int(np.prod(shape)))
    ]
    return np.array(draws, np.float64).reshape(shape)


@pytest.fixture
def portable_uniform_reference():
    """`f(shape, pair)`: the backend-independent draws for a seed pair."""
    return _portable_uniform


# Photographs and libjpeg references, shared by the tests of
# `keras_stability.jpeg` and of `JpegCompression`. The references are
# TensorFlow's own codec: `tf.image.adjust_jpeg_quality` image by image, and,
# for 8-bit inputs, a plain `tf.io.encode_jpeg` / `tf.io.decode_jpeg` round
# trip.


def _crops(height, width):
    """Two crops of each of three photographs, as uint8 (6, height, width, 3)."""
    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()]
    corners = [(180, 200), (60, 250)]
    return np.stack(
        [photo[y : y + height, x : x + width] for photo in photos for y, x in corners]
    )


@pytest.fixture(scope="session")
def rgb_odd():
    """Photo crops whose size is not a multiple of 8."""
    return _crops(37, 45)


@pytest.fixture(scope="session")
def rgb_thumbnails():
    """Whole photographs shrunk by subsampling to 48 x 64."""
    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()]
    return np.stack(
        [p[:: p.shape[0] // 48, :: p.shape[1] // 64][:48, :64] for p in photos]
    )


@pytest.fixture(scope="session")
def gray_uint8():
    camera = skimage.data.camera()
    return np.stack([camera[::8, ::8], camera[100:164, 200:264]])[..., None]


@pytest.fixture(scope="session")
def gray_float():
    """Grayscale in [0, 1] off the 8-bit grid (rgb2gray mixes the channels)."""
    gray = skimage.color.rgb2gray(skimage.data.astronaut())
    return np.stack([gray[::8, ::8], gray[200:264, 150:214]])[..., None].astype(
        "float32"
    )


@pytest.fixture(params=["rgb_odd", "rgb_thumbnails", "gray_float"])
def photographs(request):
    """Each batch of photographs as floats in [0, 1], with a quality per image."""
    images = request.getfixturevalue(request.param)
    if images.dtype == np.uint8:
        images = images.astype("float32") / 255
    qualities = np.array([5, 10, 50, 75, 90, 100][: len(images)], "int32")
    return images, qualities


def _adjust(images01, qualities):
    """`tf.image.adjust_jpeg_quality`, image by image."""
    return np.stack(
        [
            tf.image.adjust_jpeg_quality(image, int(q)).numpy()
            for image, q in zip(images01, qualities, strict=True)
        ]
    )


def _codec(images_uint8, qualities):
    """Encode and decode 8-bit images with `tf.io`, image by image."""
    return np.stack(
        [
            tf.io.decode_jpeg(tf.io.encode_jpeg(image, quality=int(q))).numpy()
            for image, q in zip(images_uint8, qualities, strict=True)
        ]
    )


def _tape_gradient(function, images):
    """`function(images)` and the gradient of its sum, or None, by a tape."""
    images = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(images)
        output = function(images)
    gradient = tape.gradient(output, images)
    return output.numpy(), None if gradient is None else gradient.numpy()


@pytest.fixture
def adjust():
    return _adjust


@pytest.fixture
def codec():
    return _codec


@pytest.fixture
def tape_gradient():
    return _tape_gradient


class _PairPage(html.parser.HTMLParser):
    """The rows of a duplicates `index.html`: `(data-distance, [(src, alt)])`."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-distance" in attrs:
            self.rows.append((float(attrs["data-distance"]), []))
        elif tag == "img":
            self.rows[-1][1].append((attrs["src"], attrs["alt"]))


@pytest.fixture
def read_pair_page():
    """Parses a duplicates `index.html` back with `html.parser`: its rows,
    `(distance, [(img src, img alt), ...])`."""

    def read(text):
        page = _PairPage()
        page.feed(text)
        page.close()
        return page.rows

    return read
