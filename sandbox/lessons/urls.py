from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("lessons/", views.lesson_list, name="lesson_list"),
    path("lessons/upload/", views.lesson_upload_view, name="lesson_upload"),
    path("lessons/<slug:slug>/<int:number>/", views.lesson_step, name="lesson_step"),
    path("lessons/<slug:slug>/<int:number>/answer/", views.lesson_answer, name="lesson_answer"),
]
