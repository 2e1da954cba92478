from tests.e2e_support import celery_worker, http_sink  # noqa: F401
