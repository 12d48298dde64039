from django.urls import path

from . import views

app_name = "tools"
urlpatterns = [
    path("mcp-servers/", views.mcp_servers, name="mcp_servers"),
    path("mcp-servers/<str:server_id>/refresh/", views.mcp_server_refresh, name="mcp_server_refresh"),
    path("mcp-servers/<str:server_id>/delete/", views.mcp_server_delete, name="mcp_server_delete"),
]
