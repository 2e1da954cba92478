import os

from django.core.signals import request_finished
from django.core.wsgi import get_wsgi_application

from .chunked import ChunkedBody
from .memory import freeze_once_after

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "steward.settings.production")

# Chunked request bodies are read (Django reads only what Content-Length announces).
application = ChunkedBody(get_wsgi_application())

# What the process keeps for its lifetime, out of the cyclic collector's way after its first page.
freeze_once_after(request_finished)
