"""Test-wide settings: CUDA kernels run on Numba's simulator unless a real GPU is asked for."""

import os

# Must be set before numba is imported anywhere. Export NUMBA_ENABLE_CUDASIM=0 on a GPU machine.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
