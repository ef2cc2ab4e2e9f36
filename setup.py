"""Installs tfgvae: Graph VAE (He et al., ICLR 2019) in TensorFlow/Keras."""
from setuptools import find_packages, setup

DOCS = ["mkdocs>=1.6,<2", "mkdocstrings-python>=2.0,<3", "mkdocs-material>=9.6,<10"]

setup(
    name="tfgvae",
    version="0.2.0",
    license="Apache-2.0",
    description="Variational autoencoders with jointly optimized latent dependency structure (Graph VAE).",
    packages=find_packages(include=["tfgvae", "tfgvae.*"]),
    # The flagfiles (configs/ in a checkout links here): --flagfile=mnist.cfg works wherever tfgvae is installed.
    package_data={"tfgvae": ["configs/*.cfg", "configs/base/*.cfg"]},
    # tfgvae train|evaluate|export|sample|tune|reproduce; bin/*.py and python -m tfgvae run the same.
    entry_points={"console_scripts": ["tfgvae=tfgvae.cli:main"]},
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
    # pytest.ini runs 2 workers (-n 2); tests/test_docs.py builds the docs (mkdocs.yml), so "test" has "docs"
    extras_require={"test": ["pytest>=8", "pytest-xdist>=3", *DOCS], "docs": DOCS},
)
