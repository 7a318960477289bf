"""JPEG re-encoding of image batches, the paper's JPEG-q distortion.

Two ways to get the same distortion; `keras_stability.perturbations.
JpegCompression` picks one with its `method`:

- `libjpeg_compress` (`keras_stability.jpeg.libjpeg`) runs every image of a
  batch through libjpeg (via TensorFlow's `tf.image.adjust_jpeg_quality`):
  the real codec, exact, but one image at a time on the CPU, not
  differentiable and not XLA-compilable. TensorFlow backend only.
- `dct_compress` (`keras_stability.jpeg.dct`) writes the lossy part of
  baseline JPEG (colour conversion, 4:2:0 chroma subsampling, 8x8 DCT,
  quantization and the decoder's way back) in `keras.ops` on whole batches:
  every backend, XLA-compilable, and differentiable with
  `straight_through=True`. It copies libjpeg's integer arithmetic step by
  step, so its pixels are libjpeg's.

`quantization_tables` (`keras_stability.jpeg.tables`) gives the
quality-scaled tables both of them use.
"""

from keras_stability.jpeg.dct import dct_compress
from keras_stability.jpeg.libjpeg import libjpeg_compress
from keras_stability.jpeg.tables import quantization_tables

__all__ = ["dct_compress", "libjpeg_compress", "quantization_tables"]
