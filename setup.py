"""Installs tfgvae: Graph VAE (He et al., ICLR 2019) in TensorFlow/Keras."""
from setuptools import find_packages, setup

setup(
    name="tfgvae",
    version="0.1.0",
    description="Variational autoencoders with jointly optimized latent dependency structure (Graph VAE).",
    packages=find_packages(include=["tfgvae", "tfgvae.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "tensorflow-probability>=0.25,<0.26",
        "tf-keras>=2.21,<2.22",
        "tensorflow-datasets>=4.9,<5",
        "importlib_resources",  # imported by tensorflow-datasets' download path, not required by it
        "keras-tuner==1.4.8",
        "scikit-learn",
        "scipy",
        "tensorboard>=2.21,<2.22",
        "absl-py>=2.0",
        "numpy>=1.26",
        "pillow>=10",
        "matplotlib>=3.8",
        "tqdm>=4.60",
    ],
    extras_require={"test": ["pytest>=8", "pytest-xdist>=3"]},  # pytest.ini runs 2 workers (-n 2)
)
