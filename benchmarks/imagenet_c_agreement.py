"""How close our corruptions come to ImageNet-C's reference code.

Runs ImageNet-C's corruption functions, written out below after
`ImageNet-C/create_c/make_imagenet_c.py` of github.com/hendrycks/robustness
(Hendrycks and Dietterich, ICLR 2019), and the layers of
`keras_stability.evaluation.corruption_distortions` on the same photographs
at the same level, and prints per family and level:

- at `--size` (224, ImageNet-C's size): the PSNR and the mean absolute
  difference (MAD, in 8-bit levels) between ours and the reference, and
  how far each moves the clean image (mean |out - clean|);
- at `--small` (32): the same, for the blurs against the reference at
  `--size` shrunk to `--small` by block means (what a blur length given as
  a fraction of the size means: the photograph blurred, then shrunk); the
  other families act on each pixel or, for pixelation, keep a fraction of
  the resolution, and are compared with the reference run at `--small`.

The noise families draw at random: their PSNR and MAD compare two draws,
and the change from the clean image is what agrees. Motion blur calls
ImageMagick through Wand, which is not installed here: it is skipped. The
reference's two OpenCV calls in defocus blur (`cv2.GaussianBlur` on the
disk, `cv2.filter2D` on the image) are written with SciPy, with OpenCV's
kernel and its default border (reflect 101).

    python benchmarks/imagenet_c_agreement.py
    python benchmarks/imagenet_c_agreement.py --backend jax --json agreement.json
"""

import argparse
import io
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine  # noqa: E402
from _common import write_json  # noqa: E402

LEVELS = (1, 2, 3, 4, 5)
# Families compared at the small size with the reference blurred, then shrunk.
SHRUNK = ("defocus_blur", "motion_blur", "gaussian_blur")
RANDOM = ("gaussian_noise", "shot_noise", "impulse_noise")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--backend", default="tensorflow", choices=["tensorflow", "jax", "torch"]
    )
    parser.add_argument("--size", type=int, default=224, help="ImageNet-C's size")
    parser.add_argument("--small", type=int, default=32, help="a divisor of --size")
    parser.add_argument("--images", type=int, default=4, help="photographs")
    parser.add_argument("--families", nargs="+", default=None)
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results to this file")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------
# ImageNet-C's functions: `x` 8-bit RGB (uint8 array or PIL image), results
# float in [0, 255] (PIL images for pixelate and JPEG), as in the reference.


def gaussian_noise(x, severity, rng):
    c = [0.08, 0.12, 0.18, 0.26, 0.38][severity - 1]
    x = np.array(x) / 255.0
    return np.clip(x + rng.normal(size=x.shape, scale=c), 0, 1) * 255


def shot_noise(x, severity, rng):
    c = [60, 25, 12, 5, 3][severity - 1]
    x = np.array(x) / 255.0
    return np.clip(rng.poisson(x * c) / c, 0, 1) * 255


def impulse_noise(x, severity, rng):
    import skimage.util

    c = [0.03, 0.06, 0.09, 0.17, 0.27][severity - 1]
    x = skimage.util.random_noise(np.array(x) / 255.0, mode="s&p", amount=c, rng=rng)
    return np.clip(x, 0, 1) * 255


def gaussian_blur(x, severity, rng):
    import skimage.filters

    c = [1, 2, 3, 4, 6][severity - 1]
    # `multichannel=True` in the reference; scikit-image now says channel_axis.
    x = skimage.filters.gaussian(np.array(x) / 255.0, sigma=c, channel_axis=-1)
    return np.clip(x, 0, 1) * 255


def _cv2_gaussian_blur(image, ksize, sigma):
    """`cv2.GaussianBlur(image, (ksize, ksize), sigma)`: its kernel, reflect 101."""
    from scipy import ndimage

    taps = np.exp(-((np.arange(ksize) - (ksize - 1) / 2) ** 2) / (2 * sigma**2))
    taps /= taps.sum()
    image = ndimage.correlate1d(image, taps, axis=0, mode="mirror")
    return ndimage.correlate1d(image, taps, axis=1, mode="mirror")


def disk(radius, alias_blur=0.1, dtype=np.float32):
    if radius <= 8:
        L = np.arange(-8, 8 + 1)  # noqa: N806 (the reference's name)
        ksize = 3
    else:
        L = np.arange(-radius, radius + 1)  # noqa: N806
        ksize = 5
    X, Y = np.meshgrid(L, L)  # noqa: N806
    aliased_disk = np.array((X**2 + Y**2) <= radius**2, dtype=dtype)
    aliased_disk /= np.sum(aliased_disk)
    # supersample disk to antialias
    return _cv2_gaussian_blur(aliased_disk, ksize, alias_blur)


def defocus_blur(x, severity, rng):
    from scipy import ndimage

    c = [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)][severity - 1]
    x = np.array(x) / 255.0
    kernel = disk(radius=c[0], alias_blur=c[1])
    # cv2.filter2D(x[:, :, d], -1, kernel): correlation, reflect 101.
    channels = [ndimage.correlate(x[:, :, d], kernel, mode="mirror") for d in range(3)]
    return np.clip(np.stack(channels, -1), 0, 1) * 255


def contrast(x, severity, rng):
    c = [0.4, 0.3, 0.2, 0.1, 0.05][severity - 1]
    x = np.array(x) / 255.0
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1) * 255


def brightness(x, severity, rng):
    import skimage.color

    c = [0.1, 0.2, 0.3, 0.4, 0.5][severity - 1]
    x = np.array(x) / 255.0
    x = skimage.color.rgb2hsv(x)
    x[:, :, 2] = np.clip(x[:, :, 2] + c, 0, 1)
    x = skimage.color.hsv2rgb(x)
    return np.clip(x, 0, 1) * 255


def saturate(x, severity, rng):
    import skimage.color

    c = [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)][severity - 1]
    x = np.array(x) / 255.0
    x = skimage.color.rgb2hsv(x)
    x[:, :, 1] = np.clip(x[:, :, 1] * c[0] + c[1], 0, 1)
    x = skimage.color.hsv2rgb(x)
    return np.clip(x, 0, 1) * 255


def jpeg_compression(x, severity, rng):
    from PIL import Image

    c = [25, 18, 15, 10, 7][severity - 1]
    output = io.BytesIO()
    Image.fromarray(np.asarray(x)).save(output, "JPEG", quality=c)
    return Image.open(output)


def pixelate(x, severity, rng):
    from PIL import Image

    c = [0.6, 0.5, 0.4, 0.3, 0.25][severity - 1]
    x = Image.fromarray(np.asarray(x))
    # 224 in the reference, which only handles 224 x 224 images.
    size = x.size[0]
    x = x.resize((int(size * c), int(size * c)), Image.BOX)
    return x.resize((size, size), Image.BOX)


REFERENCE = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "defocus_blur": defocus_blur,
    "motion_blur": None,  # ImageMagick through Wand
    "brightness": brightness,
    "contrast": contrast,
    "pixelate": pixelate,
    "jpeg_compression": jpeg_compression,
    "gaussian_blur": gaussian_blur,
    "saturate": saturate,
}


# ---------------------------------------------------------------------------


def photographs(size, count):
    """ImageNet's evaluation crop of scikit-image's photographs, 8-bit.

    Each photograph's shorter side is resized to `size * 8 / 7` (256 for
    224), then the centre `size` x `size` is cut, as ImageNet-C's loader does.
    """
    import skimage.data
    import skimage.transform

    names = ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry"]
    images = []
    for name in (names * count)[:count]:
        photo = getattr(skimage.data, name)()
        scale = round(size * 8 / 7) / min(photo.shape[:2])
        shape = (round(photo.shape[0] * scale), round(photo.shape[1] * scale))
        resized = skimage.transform.resize(photo, shape, anti_aliasing=True)
        top, left = (shape[0] - size) // 2, (shape[1] - size) // 2
        crop = resized[top : top + size, left : left + size]
        images.append(np.round(crop * 255).astype("uint8"))
    return np.stack(images)


def shrink(images, factor):
    """Block means of `factor` x `factor` pixels."""
    n, h, w, c = images.shape
    blocks = images.reshape(n, h // factor, factor, w // factor, factor, c)
    return blocks.astype("float64").mean(axis=(2, 4))


def compare(ours, reference, clean):
    """PSNR (peak 255) and MAD of ours against the reference; both changes."""
    ours, reference, clean = (
        np.asarray(a, "float64") for a in (ours, reference, clean)
    )
    mse = float(np.mean((ours - reference) ** 2))
    return {
        "mse": mse,
        "psnr": float(10 * np.log10(255**2 / mse)) if mse > 0 else float("inf"),
        "mad": float(np.mean(np.abs(ours - reference))),
        "change_reference": float(np.mean(np.abs(reference - clean))),
        "change_ours": float(np.mean(np.abs(ours - clean))),
    }


def run(size, small, count, families, levels, seed):
    """One row per family, level and size (`size`, `small`)."""
    import keras

    from keras_stability import evaluation

    rng = np.random.default_rng(seed)
    large = photographs(size, count)
    # The small images: the photographs shrunk, on the 8-bit grid.
    small_images = np.round(shrink(large, size // small)).astype("uint8")
    suite = evaluation.corruption_distortions(value_range=(0, 255))
    rows = []
    for family in families:
        for level in levels:
            row = {"family": family, "level": level}
            reference = REFERENCE[family]
            if reference is None:
                rows.append({**row, "skipped": "needs ImageMagick through Wand"})
                continue
            layer = suite[f"{family}@{level}"]
            for name, images in (("size", large), ("small", small_images)):
                ours = keras.ops.convert_to_numpy(layer(images.astype("float32")))
                if name == "small" and family in SHRUNK:
                    # The reference at full size, then shrunk.
                    target = shrink(
                        np.stack([np.asarray(reference(x, level, rng)) for x in large]),
                        size // small,
                    )
                else:
                    target = np.stack(
                        [np.asarray(reference(x, level, rng)) for x in images]
                    )
                result = compare(ours, target, images)
                rows.append(
                    {
                        **row,
                        "pixels": images.shape[1],
                        "random": family in RANDOM,
                        **result,
                    }
                )
    return rows


def format_table(rows):
    lines = [
        f"{'family':<17} {'level':>5} {'pixels':>6} {'PSNR dB':>8} {'MAD':>7} "
        f"{'change ref':>10} {'change ours':>11}"
    ]
    for r in rows:
        if "skipped" in r:
            lines.append(f"{r['family']:<17} {r['level']:>5}  skipped: {r['skipped']}")
            continue
        psnr = "random" if r["random"] else f"{r['psnr']:.1f}"
        mad = "random" if r["random"] else f"{r['mad']:.2f}"
        lines.append(
            f"{r['family']:<17} {r['level']:>5} {r['pixels']:>6} {psnr:>8} {mad:>7} "
            f"{r['change_reference']:>10.2f} {r['change_ours']:>11.2f}"
        )
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.size % args.small:
        raise ValueError(
            f"`--small` must divide `--size`. Received: --size {args.size} "
            f"--small {args.small}"
        )
    os.environ.setdefault("KERAS_BACKEND", args.backend)
    import keras

    if keras.backend.backend() != args.backend:
        raise ValueError(
            f"`--backend {args.backend}` must be chosen before keras is imported; "
            f"this process already runs keras on '{keras.backend.backend()}'."
        )
    families = args.families or list(REFERENCE)
    rows = run(args.size, args.small, args.images, families, args.levels, args.seed)
    report = {
        "backend": keras.backend.backend(),
        "machine": machine(),
        "images": args.images,
        "rows": rows,
    }
    print(
        f"ImageNet-C agreement, backend {report['backend']}, {report['machine']}, "
        f"{args.images} photographs at {args.size} and {args.small} pixels "
        "(MAD and changes in 8-bit levels)"
    )
    print(format_table(rows))
    return write_json(report, args.json)


if __name__ == "__main__":
    main()
