"""JPEG re-encoding of image batches, the paper's JPEG-q distortion.

`libjpeg_compress` runs every image of a batch through libjpeg (via
TensorFlow's `tf.image.adjust_jpeg_quality`): the real codec, exact, not
differentiable and not XLA-compilable. A batched DCT simulation written in
`keras.ops` (differentiable, XLA-friendly, every backend) will join it here;
`keras_stability.perturbations.JpegCompression` picks one with its `method`.
"""

from keras_stability import _backend

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
            `[0, 100]` per image, or a scalar used for every image.

    Returns:
        A tensor of the shape and dtype of `images`, with values in `[0, 1]`
        on the 8-bit grid `k / 255`.

    Raises:
        RuntimeError: if the Keras backend is not TensorFlow.
        ValueError: if `images` is not a 4-D float batch with 1 or 3 channels.

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
    images = tf.convert_to_tensor(images)
    if not images.dtype.is_floating or images.shape.rank != 4:
        raise ValueError(
            "`images` must be a float batch of shape (batch, height, width, "
            f"channels). Received: images.shape={tuple(images.shape)}, "
            f"images.dtype={images.dtype.name}"
        )
    channels = images.shape[-1]
    if channels not in (1, 3):
        raise ValueError(
            "JPEG encoding needs images with 1 (grayscale) or 3 (RGB) channels. "
            f"Received: {channels} channels (images.shape={tuple(images.shape)})"
        )
    quality = tf.broadcast_to(tf.cast(quality, tf.int32), tf.shape(images)[:1])
    return tf.map_fn(
        lambda pair: tf.image.adjust_jpeg_quality(pair[0], pair[1]),
        (images, quality),
        fn_output_signature=tf.TensorSpec(images.shape[1:], images.dtype),
    )
