"""Folders: create and attach folders, upload files (progress bar while uploading, then the ingestion status of
the File row), detach. Writes go through memory.folders, memory.ingest and agents.actions."""

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_POST

from ade.errors import DomainError
from agents.actions import attach_folder, detach_folder
from agents.pages import panels
from agents.pages.views.common import agent_view, region
from memory.folders import create_folder, embedding_config_for, get_folder_for
from memory.ingest import delete_file, retry_file, upload_file
from memory.models import File

LEFT = "agents/panels/left.html"
VIEW_CHARS = 50_000  # what the viewer shows of a file's text; the agent reads it in windows anyway


def _panel(request, agent, status=200, **extra):
    if request.htmx:
        return render(request, LEFT, {**panels.left_panel(agent, "folders"), **extra}, status=status)
    return render(
        request,
        "agents/workspace.html",
        {**panels.workspace(agent, request.user, left="folders"), **extra},
        status=status,
    )


def _attached_folder(agent, folder_id):
    folder = agent.folders.filter(id=folder_id).first()
    if folder is None:
        raise Http404("Folder not attached to this agent")
    return folder


@agent_view
def folders_tab(request, agent):
    return _panel(request, agent)


@agent_view
@require_POST
def folder_create(request, agent):
    name = request.POST.get("name", "").strip()
    try:
        handle = (agent.embedding_config or {}).get("handle")
        folder = create_folder(request.user, name=name, embedding_config=embedding_config_for(handle))
        attach_folder(request.user, agent.id, folder.id)
    except DomainError as exc:
        return _panel(request, agent, exc.status, folder_error=exc.message, folder_name=name)
    return _panel(request, agent)


@agent_view
@require_POST
def folder_attach(request, agent):
    try:
        attach_folder(request.user, agent.id, request.POST.get("folder_id", ""))
    except DomainError as exc:
        return _panel(request, agent, exc.status, folder_error=exc.message)
    return _panel(request, agent)


@agent_view
@require_POST
def folder_detach(request, agent, folder_id):
    detach_folder(request.user, agent.id, _attached_folder(agent, folder_id).id)
    return _panel(request, agent)


@agent_view
@require_POST
def file_upload(request, agent, folder_id):
    folder = _attached_folder(agent, folder_id)
    upload = request.FILES.get("file")
    if upload is None:
        return _panel(request, agent, 400, upload_error={folder.id: "Choose a file to upload."})
    if upload.size > settings.MAX_UPLOAD_BYTES:
        limit = settings.MAX_UPLOAD_BYTES // (1024 * 1024)
        return _panel(request, agent, 413, upload_error={folder.id: f"{upload.name} is larger than {limit} MB."})
    try:
        upload_file(
            agent.organization,
            get_folder_for(request.user, folder.id),
            name=upload.name,
            data=upload.read(),
            content_type=upload.content_type or "",
            created_by=request.user,
        )
    except DomainError as exc:
        return _panel(request, agent, exc.status, upload_error={folder.id: exc.message})
    return _panel(request, agent)


def _file(agent, file_id) -> File:
    file = File.objects.filter(id=file_id, folder__agents=agent).first()
    if file is None:
        raise Http404("File not found")
    return file


@agent_view
def file_status(request, agent, file_id):
    """The file's row (the panel polls it); opened in a tab, the file's own page."""
    if not request.htmx:
        return file_view(request, agent.id, file_id)
    return render(request, "agents/partials/file_row.html", {"agent": agent, "file": _file(agent, file_id)})


@agent_view
def file_view(request, agent, file_id):
    """The text extracted from a file, as the agent's file tools read it."""
    file = _file(agent, file_id)
    shown = file.content[:VIEW_CHARS]
    context = {"agent": agent, "file": file, "text": shown, "clipped": len(file.content) > len(shown)}
    return region(request, "agents/partials/file_view.html", "agents/file.html", context)


@agent_view
@require_POST
def file_delete(request, agent, file_id):
    file = _file(agent, file_id)
    delete_file(agent.organization, file.id, actor=request.user)
    return _panel(request, agent)


@agent_view
@require_POST
def file_retry(request, agent, file_id):
    file = _file(agent, file_id)
    try:
        retry_file(agent.organization, file.id, actor=request.user)
    except DomainError as exc:
        return _panel(request, agent, exc.status, upload_error={file.folder_id: exc.message})
    return _panel(request, agent)
