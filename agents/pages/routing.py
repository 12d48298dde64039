from django.urls import path

from agents.pages.consumers import AgentConsumer
from agents.pages.imports import ImportConsumer

websocket_urlpatterns = [
    path("ws/agents/<str:agent_id>/", AgentConsumer.as_asgi()),
    path("ws/imports/<str:ticket>/", ImportConsumer.as_asgi()),
]
