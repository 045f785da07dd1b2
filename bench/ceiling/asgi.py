"""The bare ceiling as an ASGI application (uvicorn)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.ceiling.settings")
application = get_asgi_application()
