"""The product's URLs plus the baseline of the API benchmark (bench/api.py).

Only ``bench.settings`` routes here; the product's URLconf has no such view.
"""

from django.http import JsonResponse
from django.urls import path

from config.urls import urlpatterns as product_urlpatterns


def trivial_json(request):
    """The baseline: the cheapest Django JSON view, through the same middleware."""
    return JsonResponse({"ok": True})


urlpatterns = [path("bench/trivial", trivial_json), *product_urlpatterns]
