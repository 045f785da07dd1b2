import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
django_wsgi_app = get_wsgi_application()

from config.middleware import RequireContentLength  # noqa: E402

# Django reads no WSGI body without Content-Length: a chunked one is refused, saying why.
application = RequireContentLength(django_wsgi_app)
