import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A data dir with every dataset in its real file format, a few dozen images each."""
    import data_fixtures

    root = tmp_path_factory.mktemp("data")
    data_fixtures.write_tiny_data_dir(str(root))
    return str(root)
