"""Stability Training for Keras 3 (Zheng, Song, Leung, Goodfellow, CVPR 2016)."""

__version__ = "0.1.0"
