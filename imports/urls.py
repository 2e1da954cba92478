"""The import and export pages. They keep the `registry:` URL names they had before this app
existed (links in the registry's pages and bookmarks use them): steward/urls.py mounts these
patterns inside the registry's namespace, so registry itself never imports this app."""

from django.urls import path

from . import views

urlpatterns = [
    path("import/csv/", views.csv_import, name="csv_import"),
    path("export/registry.csv", views.csv_export, name="csv_export"),
    path("catalog/", views.catalog_import_page, name="catalog_import"),
    path("catalog/export.yaml", views.catalog_export_file, name="catalog_export"),
]
