from django.db import connection
from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and compose: the web process answers and reaches the database."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except Exception as exc:  # noqa: BLE001 - report any database failure as unhealthy
        database = f"error: {exc.__class__.__name__}"
    healthy = database == "ok"
    return JsonResponse({"web": "ok", "database": database}, status=200 if healthy else 503)
