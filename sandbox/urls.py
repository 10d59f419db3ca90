from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("sandbox.desk.urls")),
    path("", include("sandbox.live.urls")),
    path("", include("sandbox.lessons.urls")),
    path("", include("sandbox.classroom.urls")),
]
