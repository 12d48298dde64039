from django.contrib import admin
from django.urls import include, path, re_path

from .api import api, unknown_route
from .cloud_only import PATH_PREFIXES, cloud_only

urlpatterns = [
    path("admin/", admin.site.urls),
    path("v1/", api.urls),
    re_path(PATH_PREFIXES, cloud_only),  # Letta Cloud operations: a 404 that names them
    re_path(r"^v1/", unknown_route),  # JSON 404 (and no slash-appending redirects) under /v1
    path("", include("accounts.urls")),
    path("", include("tools.urls")),
    path("", include("agents.pages.urls")),
    path("", include("evals.pages.urls")),
]
