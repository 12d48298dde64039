from django.urls import path

from .views import agent_list, workspace

app_name = "agents"
urlpatterns = [
    path("", agent_list.agent_list, name="list"),
    path("agents/new/", agent_list.agent_create, name="create"),
    path("agents/import/", agent_list.agent_import, name="import"),
    path("agents/<str:agent_id>/", workspace.workspace, name="workspace"),
    path("agents/<str:agent_id>/duplicate/", agent_list.agent_duplicate, name="duplicate"),
    path("agents/<str:agent_id>/delete/", agent_list.agent_delete, name="delete"),
]
