"""Suite-wide test settings: one torch thread per xdist worker, headless matplotlib,
hypothesis without deadlines (timings on a shared 2-core machine are noisy)."""

import os

import matplotlib
import torch
from hypothesis import settings

matplotlib.use("Agg")

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

settings.register_profile("spacetime", deadline=None, max_examples=30)
settings.load_profile("spacetime")
