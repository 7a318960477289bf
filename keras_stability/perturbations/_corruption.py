"""`Corruption`: the base of the ImageNet-C corruptions, on `[0, 1]` in float32.

Internal to the package. ImageNet-C's corruptions work on `[0, 1]` in
float and clip their result there; ours do the same on any `value_range`,
in float32 whatever the compute dtype, with one severity per image.
"""

from keras import ops

from keras_stability.perturbations._severity import per_image
from keras_stability.perturbations.base import Perturbation


class Corruption(Perturbation):
    """A perturbation computed on `[0, 1]` with a severity per image, clipped.

    Subclasses name their severity argument in `severity_name` (and store it
    under that attribute) and implement `corrupt(unit, severity, seed)`.
    This class maps the images from `value_range` to `[0, 1]` in float32,
    draws the severities of a pair (see `Perturbation`), clips the result to
    `[0, 1]`, maps it back and casts it to the compute dtype, and adds the
    severity to the config.
    """

    severity_name = None

    def corrupt(self, unit, severity, seed):
        """Returns the corrupted images, float32 like `unit`, before clipping.

        Args:
            unit: float32 `(batch, height, width, channels)` on `[0, 1]`.
            severity: float32 `(batch,)`, each image's severity.
            seed: a `keras.random.SeedGenerator` for further draws.
        """
        raise NotImplementedError(
            f"`{type(self).__name__}` must implement `corrupt(unit, severity, seed)`."
        )

    def perturb(self, images, seed):
        low, high = self.value_range
        unit = ops.divide(ops.subtract(ops.cast(images, "float32"), low), high - low)
        severity = per_image(images, getattr(self, self.severity_name), seed)
        outputs = ops.clip(self.corrupt(unit, severity, seed), 0.0, 1.0)
        outputs = ops.add(ops.multiply(outputs, high - low), low)
        return ops.cast(outputs, images.dtype)

    def get_config(self):
        config = super().get_config()
        config[self.severity_name] = getattr(self, self.severity_name)
        return config
