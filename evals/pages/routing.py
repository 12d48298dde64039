from django.urls import path

from .consumers import EvalConsumer

websocket_urlpatterns = [path("ws/evals/<str:eval_id>/", EvalConsumer.as_asgi())]
