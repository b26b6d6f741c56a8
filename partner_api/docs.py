"""The interactive API docs (Swagger UI, served from drf-spectacular-sidecar's local
files) under the site's Content-Security-Policy: its start-up script is fetched as a
file (`?script`) instead of inlined, its page style is a static file, and the page
allows the `data:` images of Swagger UI's stylesheet."""

from __future__ import annotations

from csp.decorators import csp_update
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularSwaggerSplitView


@method_decorator(csp_update({"img-src": ["data:"]}), name="get")
class ApiDocsView(SpectacularSwaggerSplitView):
    template_name = "api_docs.html"
