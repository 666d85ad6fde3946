"""gracekit: a teaching kit for graceful model updates.

Replace a trained model with a better one without breaking what the old one got right.
"""
import os as _os

# torch's OpenMP threads spin-wait by default; with two busy processes on two cores
# (a kernel beside a test run) that slowed training about tenfold. This must be set
# before torch is first imported, so it is the one thing done on import.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from gracekit.config import cache_dir, get_device, is_fast, seed_everything, setup  # noqa: E402

__version__ = "0.1.0"
__all__ = ["setup", "is_fast", "get_device", "cache_dir", "seed_everything", "__version__"]
