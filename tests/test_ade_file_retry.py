"""Retrying a failed file over /v1 (the same action as the ADE's Retry button): it ingests the stored bytes again;
a file refused at upload (never stored) or one that has not failed is a 409 naming why."""

from django.core.files.uploadedfile import SimpleUploadedFile

from memory.models import File, Passage


def test_retry_ingests_a_failed_file_again(alice_api, scripted_llm, django_capture_on_commit_callbacks):
    folder = alice_api.post("/v1/folders/", {"name": "docs", "embedding": "engram/scripted-embed"}).json()
    scripted_llm.queue({"endpoint": "embeddings", "error": {"status": 400, "message": "quota exhausted"}})
    with django_capture_on_commit_callbacks(execute=True):
        note = SimpleUploadedFile("note.txt", b"The warranty lasts two years.\n", content_type="text/plain")
        file = alice_api.upload(f"/v1/folders/{folder['id']}/upload", {"file": note}).json()
    assert File.objects.get(id=file["id"]).processing_status == "error"
    retry = f"/v1/folders/{folder['id']}/files/{file['id']}/retry"
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post(retry)
    assert response.status_code == 200 and response.json()["processing_status"] == "pending"
    done = File.objects.get(id=file["id"])
    assert done.processing_status == "completed" and Passage.objects.filter(file=done).exists()
    again = alice_api.post(retry)
    assert again.status_code == 409 and "has not failed" in again.json()["detail"]

    image = SimpleUploadedFile("image.png", b"\x89PNG\r\n", content_type="image/png")
    refused = alice_api.upload(f"/v1/folders/{folder['id']}/upload", {"file": image}).json()
    response = alice_api.post(f"/v1/folders/{folder['id']}/files/{refused['id']}/retry")
    assert response.status_code == 409 and "upload again" in response.json()["detail"]


def test_another_organization_cannot_retry(alice_api, mallory_api):
    folder = alice_api.post("/v1/folders/", {"name": "docs"}).json()
    image = SimpleUploadedFile("image.png", b"\x89PNG\r\n", content_type="image/png")
    refused = alice_api.upload(f"/v1/folders/{folder['id']}/upload", {"file": image}).json()
    assert mallory_api.post(f"/v1/folders/{folder['id']}/files/{refused['id']}/retry").status_code == 404
