from django.urls import path

from agents.pages.views import (
    agent_list,
    archival,
    chat,
    conversations,
    folders,
    memory,
    rules,
    secrets,
    settings,
    steps,
    tool_code,
    tools,
    workspace,
)

app_name = "agents"
A = "agents/<str:agent_id>/"
urlpatterns = [
    path("", agent_list.agent_list, name="list"),
    path("agents/new/", agent_list.agent_create, name="create"),
    path("agents/import/", agent_list.agent_import, name="import"),
    path("agents/import/preview/", agent_list.agent_import_preview, name="import_preview"),
    path(A, workspace.workspace, name="workspace"),
    path(A + "duplicate/", agent_list.agent_duplicate, name="duplicate"),
    path(A + "delete/", agent_list.agent_delete, name="delete"),
    path(A + "export/", settings.export, name="export"),
    # chat
    path(A + "messages/", chat.send, name="send"),
    path(A + "approval/", chat.approve, name="approve"),
    path(A + "runs/<str:run_id>/cancel/", chat.cancel, name="cancel"),
    path(A + "runs/<str:run_id>/trace/", steps.run_trace, name="trace"),
    path(A + "reset/", chat.reset, name="reset"),
    path(A + "context/", workspace.context, name="context"),
    path(A + "chat/", workspace.chat_log, name="chat"),
    path(A + "conversations/new/", conversations.conversation_new, name="conversation_new"),
    path(A + "conversations/fork/", conversations.conversation_fork, name="conversation_fork"),
    path(
        A + "conversations/<str:conversation_id>/rename/", conversations.conversation_rename, name="conversation_rename"
    ),
    path(
        A + "conversations/<str:conversation_id>/delete/", conversations.conversation_delete, name="conversation_delete"
    ),
    # core memory
    path(A + "memory/", memory.memory_tab, name="memory"),
    path(A + "blocks/new/", memory.block_create, name="block_create"),
    path(A + "blocks/attach/", memory.block_attach, name="block_attach"),
    path(A + "blocks/<str:block_id>/", memory.block_get, name="block"),
    path(A + "blocks/<str:block_id>/save/", memory.block_save, name="block_save"),
    path(A + "blocks/<str:block_id>/history/", memory.block_history, name="block_history"),
    path(A + "blocks/<str:block_id>/undo/", memory.block_undo, name="block_undo"),
    path(A + "blocks/<str:block_id>/detach/", memory.block_detach, name="block_detach"),
    # archival memory
    path(A + "archival/", archival.archival_tab, name="archival"),
    path(A + "archival/add/", archival.passage_add, name="passage_add"),
    path(A + "archival/tools/", archival.archival_tools_attach, name="archival_tools"),
    path(A + "archival/<str:passage_id>/edit/", archival.passage_edit, name="passage_edit"),
    path(A + "archival/<str:passage_id>/delete/", archival.passage_delete, name="passage_delete"),
    path(A + "archives/attach/", archival.archive_attach, name="archive_attach"),
    path(A + "archives/<str:archive_id>/detach/", archival.archive_detach, name="archive_detach"),
    # settings, tools, folders
    path(A + "settings/", settings.settings_tab, name="settings"),
    path(A + "settings/save/", settings.settings_save, name="settings_save"),
    path(A + "tools/", tools.tools_tab, name="tools"),
    path(A + "tools/attach/", tools.tool_attach, name="tool_attach"),
    path(A + "tools/new/", tools.tool_new, name="tool_new"),
    path(A + "tools/run/", tools.tool_run, name="tool_run"),
    path(A + "tools/rules/", tools.tool_rules_save, name="tool_rules"),
    path(A + "tools/rules/edit/", rules.rule_edit, name="rule_edit"),
    path(A + "tools/rules/save/", rules.rule_save, name="rule_save"),
    path(A + "tools/rules/<str:index>/delete/", rules.rule_delete, name="rule_delete"),
    path(A + "tools/schema/", tool_code.tool_schema, name="tool_schema"),
    path(A + "tools/secrets/", secrets.secret_set, name="secret_set"),
    path(A + "tools/secrets/<str:name>/delete/", secrets.secret_delete, name="secret_delete"),
    path(A + "tools/builtin/<str:name>/", tool_code.builtin_tool, name="builtin_tool"),
    path(A + "tools/<str:tool_id>/", tools.tool_edit, name="tool_edit"),
    path(A + "tools/<str:tool_id>/detach/", tools.tool_detach, name="tool_detach"),
    path(A + "folders/", folders.folders_tab, name="folders"),
    path(A + "folders/new/", folders.folder_create, name="folder_create"),
    path(A + "folders/attach/", folders.folder_attach, name="folder_attach"),
    path(A + "folders/<str:folder_id>/detach/", folders.folder_detach, name="folder_detach"),
    path(A + "folders/<str:folder_id>/upload/", folders.file_upload, name="file_upload"),
    path(A + "files/<str:file_id>/", folders.file_status, name="file_status"),
    path(A + "files/<str:file_id>/view/", folders.file_view, name="file_view"),
    path(A + "files/<str:file_id>/delete/", folders.file_delete, name="file_delete"),
    path(A + "files/<str:file_id>/retry/", folders.file_retry, name="file_retry"),
]
