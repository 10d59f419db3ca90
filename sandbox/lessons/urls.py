from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("lessons/", views.lesson_list, name="lesson_list"),
    path("lessons/upload/", views.lesson_upload_view, name="lesson_upload"),
    path("lessons/<slug:slug>/<int:number>/", views.lesson_step, name="lesson_step"),
    path("lessons/<slug:slug>/<int:number>/answer/", views.lesson_answer, name="lesson_answer"),
    path("lessons/<slug:slug>/<int:number>/task/", views.task_open_view, name="task_open"),
    path("lesson-task/<int:account_id>/", views.task_panel, name="task_panel"),
    path("lesson-task/<int:account_id>/hint/", views.task_hint_view, name="task_hint"),
    path("lesson-task/<int:account_id>/move-on/", views.task_move_on_view, name="task_move_on"),
]
