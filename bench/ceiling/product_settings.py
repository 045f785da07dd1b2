"""The benchmark server's settings (`bench.settings`: production's, DEBUG off, every
middleware of the product) with the ceiling's view added to its URLs."""

from bench.settings import *  # noqa: F403

ROOT_URLCONF = "bench.ceiling.product_urls"
