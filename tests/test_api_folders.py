"""/v1 folders and files: create, upload (multipart) and ingestion status, list/retrieve, agents' view, delete."""

from django.core.files.uploadedfile import SimpleUploadedFile

from memory.models import File, Folder, Passage

NOTES = b"Engram keeps memory in blocks.\n\nArchival passages are searched by meaning.\n" * 5


def upload(api, folder_id, name="notes.txt", data=NOTES, **query):
    path = f"/v1/folders/{folder_id}/upload" + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    return api.upload(path, {"file": SimpleUploadedFile(name, data, content_type="text/plain")})


def test_folder_crud(alice_api):
    r = alice_api.post("/v1/folders/", {"name": "docs", "description": "Manuals"})
    assert r.status_code == 200, r.content
    folder = r.json()
    assert folder["id"].startswith("source-") and folder["embedding_config"]["embedding_dim"] == 384
    assert alice_api.post("/v1/folders", {"name": "docs"}).status_code == 409
    assert [f["name"] for f in alice_api.get("/v1/folders/").json()] == ["docs"]
    r = alice_api.patch(f"/v1/folders/{folder['id']}", {"description": "User manuals"})
    assert r.json()["description"] == "User manuals"
    assert alice_api.get("/v1/folders/count").json() == 1
    assert alice_api.delete(f"/v1/folders/{folder['id']}").json()["message"].endswith("deleted")
    assert not Folder.objects.exists()


def test_upload_is_ingested_and_listed(alice_api, django_capture_on_commit_callbacks):
    folder = alice_api.post("/v1/folders/", {"name": "docs", "embedding_chunk_size": 64}).json()
    with django_capture_on_commit_callbacks(execute=True):
        r = upload(alice_api, folder["id"])
    assert r.status_code == 200, r.content
    file = r.json()
    assert file["source_id"] == folder["id"] and file["file_name"] == "notes.txt"
    assert file["processing_status"] in ("pending", "parsing", "embedding", "completed")
    stored = File.objects.get(id=file["id"])
    assert stored.processing_status == "completed" and Passage.objects.filter(file=stored).count() > 1

    listed = alice_api.get(f"/v1/folders/{folder['id']}/files").json()
    assert [f["id"] for f in listed] == [file["id"]] and listed[0]["content"] is None
    one = alice_api.get(f"/v1/folders/{folder['id']}/files/{file['id']}", {"include_content": "true"}).json()
    assert one["processing_status"] == "completed" and "Archival passages" in one["content"]

    again = upload(alice_api, folder["id"]).json()
    assert again["file_name"] == "notes (1).txt"
    assert upload(alice_api, folder["id"], duplicate_handling="error").status_code == 409

    r = alice_api.delete(f"/v1/folders/{folder['id']}/{file['id']}")
    assert r.status_code == 200 and not File.objects.filter(id=file["id"]).exists()


def test_unsupported_and_oversize_uploads(alice_api, settings):
    folder = alice_api.post("/v1/folders/", {"name": "docs"}).json()
    r = upload(alice_api, folder["id"], name="tool.exe", data=b"MZ\x90")
    assert r.status_code == 200 and r.json()["processing_status"] == "error"
    assert "Unsupported file type" in r.json()["error_message"]
    settings.MAX_UPLOAD_BYTES = 100
    r = upload(alice_api, folder["id"], name="big.txt", data=b"x" * 500)
    assert r.status_code == 413 and "too large" in r.json()["detail"]
    assert not File.objects.filter(file_name="big.txt").exists()
    r = alice_api.upload(f"/v1/folders/{folder['id']}/upload", {})
    assert r.status_code == 422 and "file" in r.json()["detail"]


def test_agent_sees_attached_folder_files(alice_api, django_capture_on_commit_callbacks):
    folder = alice_api.post("/v1/folders/", {"name": "docs"}).json()
    with django_capture_on_commit_callbacks(execute=True):
        file = upload(alice_api, folder["id"]).json()
    agent = alice_api.post("/v1/agents/", {"name": "reader"}).json()
    r = alice_api.patch(f"/v1/agents/{agent['id']}/folders/attach/{folder['id']}")
    assert {"open_files", "grep_files", "semantic_search_files"} <= {t["name"] for t in r.json()["tools"]}
    assert [b["file_id"] for b in r.json()["memory"]["file_blocks"]] == [file["id"]]
    page = alice_api.get(f"/v1/agents/{agent['id']}/files").json()
    assert page["has_more"] is False and page["next_cursor"] is None
    assert [(f["file_name"], f["folder_name"]) for f in page["files"]] == [("notes.txt", "docs")]

    alice_api.delete(f"/v1/folders/{folder['id']}")
    after = alice_api.get(f"/v1/agents/{agent['id']}").json()
    assert after["sources"] == [] and after["memory"]["file_blocks"] == []
    assert "open_files" not in {t["name"] for t in after["tools"]}


def test_folders_of_other_organizations_are_404(alice_api, mallory_api):
    folder = alice_api.post("/v1/folders/", {"name": "docs"}).json()
    assert mallory_api.get(f"/v1/folders/{folder['id']}").status_code == 404
    assert mallory_api.patch(f"/v1/folders/{folder['id']}", {"name": "x"}).status_code == 404
    assert upload(mallory_api, folder["id"]).status_code == 404
    assert mallory_api.delete(f"/v1/folders/{folder['id']}").status_code == 404
    assert mallory_api.get("/v1/folders/").json() == []
    assert Folder.objects.get(id=folder["id"]).name == "docs" and not File.objects.exists()
