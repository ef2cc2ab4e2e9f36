"""tfgvae: Graph VAE (He, Gong, Marino, Mori, Lehrmann, ICLR 2019) in TensorFlow/Keras."""

__version__ = "0.1.0"
