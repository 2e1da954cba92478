"""The registry's REST API under /api/v1/: serializers parse and render, views call one service or
selector each. Permissions are checked by the services (PermissionDenied → 403)."""
