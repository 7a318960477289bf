"""`libjpeg_compress`: JPEG compression by libjpeg itself, through TensorFlow.

The real codec, exact, but one image at a time on the CPU, not
differentiable and not XLA-compilable. TensorFlow is asked for through
`keras_stability._backend.require_tensorflow`, so this module imports on
every backend and raises a clear error when called on another.
"""

from keras_stability import _backend
from keras_stability._checks import check_jpeg_channels
from keras_stability._checks import check_jpeg_quality

__all__ = ["libjpeg_compress"]


def libjpeg_compress(images, quality):
    """Encodes each image of a batch as JPEG with libjpeg and decodes it again.

    Each image goes through `tf.image.adjust_jpeg_quality` on its own (it only
    takes single images) inside `tf.map_fn`, so the result is bit-identical to
    calling it image by image: the image is quantized to 8 bits (`x * 255.5`,
    truncated, saturated), encoded at its quality, decoded, and returned as
    `level / 255` in `images`' dtype.

    Args:
        images: float tensor of shape `(batch, height, width, channels)` with
            values in `[0, 1]`, with 1 (grayscale) or 3 (RGB) channels.
        quality: int tensor of shape `(batch,)`, one JPEG quality in
            `[0, 100]` per image, or a scalar used for every image. Python
            and NumPy values are checked here; a tensor's values cannot be
            checked in a graph, and one outside `[0, 100]` makes TensorFlow
            raise `InvalidArgumentError` when it runs.

    Returns:
        A tensor of the shape and dtype of `images`, with values in `[0, 1]`
        on the 8-bit grid `k / 255`.

    Raises:
        RuntimeError: if the Keras backend is not TensorFlow.
        ValueError: if `images` is not a 4-D float batch with 1 or 3
            channels, or a Python or NumPy `quality` is not an integer in
            `[0, 100]`.

    Example:

    ```python
    import numpy as np
    from keras_stability.jpeg import libjpeg_compress

    images = np.random.default_rng(0).random((2, 16, 16, 3), dtype="float32")
    compressed = libjpeg_compress(images, np.array([10, 90], dtype="int32"))
    assert compressed.shape == (2, 16, 16, 3)
    ```

    Reference:
        - [Zheng et al., "Improving the Robustness of Deep Neural Networks via
          Stability Training", CVPR 2016](https://arxiv.org/abs/1604.04326)
          (the JPEG-q distortion).
    """
    tf = _backend.require_tensorflow("libjpeg_compress")
    check_jpeg_quality(quality)
    images = tf.convert_to_tensor(images)
    if not images.dtype.is_floating or images.shape.rank != 4:
        raise ValueError(
            "`images` must be a float batch of shape (batch, height, width, "
            f"channels). Received: images.shape={tuple(images.shape)}, "
            f"images.dtype={images.dtype.name}"
        )
    check_jpeg_channels(tuple(images.shape))
    quality = tf.broadcast_to(tf.cast(quality, tf.int32), tf.shape(images)[:1])
    return tf.map_fn(
        lambda pair: tf.image.adjust_jpeg_quality(pair[0], pair[1]),
        (images, quality),
        fn_output_signature=tf.TensorSpec(images.shape[1:], images.dtype),
    )
