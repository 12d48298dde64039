from django.urls import path

from . import views

app_name = "evals"

urlpatterns = [
    path("evals/", views.eval_index, name="index"),
    path("evals/models/", views.eval_models, name="models"),
    path("evals/start/", views.eval_start, name="start"),
    path("evals/suites/", views.suite_add, name="suite_add"),
    path("evals/<str:eval_id>/", views.eval_detail, name="detail"),
    path("evals/<str:eval_id>/cancel/", views.eval_cancel, name="cancel"),
]
