"""The bare ceiling as a WSGI application (gunicorn)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.ceiling.settings")
application = get_wsgi_application()
