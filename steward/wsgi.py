import os

from django.core.wsgi import get_wsgi_application

from .chunked import ChunkedBody

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "steward.settings.production")

# Chunked request bodies are read (Django reads only what Content-Length announces).
application = ChunkedBody(get_wsgi_application())
