"""``python -m tfgvae train|evaluate|export|sample|tune|reproduce [--flag=value ...]``: the
``tfgvae`` command (``tfgvae.cli``)."""
from tfgvae import cli

if __name__ == "__main__":
    cli.main()
