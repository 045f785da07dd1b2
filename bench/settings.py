"""Settings of the benchmark server: production's, on loopback, with room for the load.

What differs from `config.settings.production`, and why:
- TLS ends at a proxy in production; here the load generator sends the proxy's
  `X-Forwarded-Proto: https` header itself, so the HTTPS redirect and secure-cookie
  paths run as they do behind the proxy.
- Throttles still run on every request (their cache round trips are part of the
  cost) but with per-second windows far above the load, so nothing is refused and
  a throttle's history stays as short as a real user's.
- Static files are collected (with production's manifest storage, which the error
  pages need) into var/bench/static rather than the shared staticfiles/.
- `bench/run.py` sets DB_CONN_MAX_AGE and DB_POOL_MAX_SIZE per server shape, as
  docs/deploy.md sets them in production.
The database, Redis and the secret come from the environment `bench/run.py` sets.
"""

import os

# A key for this loopback benchmark only (production.py refuses the development key).
os.environ.setdefault("SECRET_KEY", "bench-only-" + "k" * 56)

from config.settings.production import *  # noqa: F403
from config.settings.production import BASE_DIR, REST_FRAMEWORK

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
STATIC_ROOT = BASE_DIR / "var" / "bench" / "static"

REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
        "auth": "100000/s",
        "send": "100000/s",
        "search": "100000/s",
        "user": "100000/s",
    },
}
