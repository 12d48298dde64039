"""Members, invitations and the audit log (issue 14): invitation links (one-time, expiring, revocable, emailed),
roles and the one-owner rule, the organization switcher, `manage.py invite`, removal taking effect at once, and
audit rows committing with their change or not at all."""

import json
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts import members
from accounts.actions import create_api_key, create_user
from accounts.models import AuditEntry, Invitation, Membership, User
from ade.errors import Conflict, Forbidden
from agents.actions import create_agent, delete_agent, update_agent
from agents.models import Agent
from memory.actions import Actor, update_block
from memory.models import Block
from tests.apiclient import ApiClient

PASSWORD = "correct horse battery"


def token_of(link: str) -> str:
    return re.search(r"/join/([^/]+)/$", link).group(1)


def membership(user) -> Membership:
    return Membership.objects.get(user=user, organization_id=user.organization_id)


def test_an_invitation_link_makes_an_account_once_and_is_emailed(alice, client, django_capture_on_commit_callbacks):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):  # the email leaves after commit
        page = client.post(reverse("accounts:members"), {"email": "Carol@Example.com", "role": "editor"})
    link = re.search(r'id="invite-link">([^<]+)<', page.content.decode()).group(1)
    assert [m.to for m in mail.outbox] == [["carol@example.com"]] and link in mail.outbox[0].body
    client.logout()

    joined = client.post(link, {"username": "carol", "password": PASSWORD})
    assert joined.status_code == 302
    carol = User.objects.get(username="carol")
    assert carol.organization_id == alice.organization_id and membership(carol).role == "editor"
    assert client.get(reverse("agents:list")).status_code == 200  # signed in

    client.logout()
    assert client.get(link).status_code == 404  # used
    assert client.post(link, {"username": "dave", "password": PASSWORD}).status_code == 404
    assert not User.objects.filter(username="dave").exists()
    actions = list(AuditEntry.objects.filter(organization=alice.organization).values_list("action", "actor_name"))
    assert ("invitation.create", "alice") in actions and ("member.join", "carol") in actions


def test_an_existing_user_joins_with_the_role_and_can_switch_back(alice, mallory, client):
    _inv, link = members.invite(alice, "m@example.com", "viewer")
    client.force_login(mallory)
    assert client.post(link).status_code == 302
    mallory.refresh_from_db()
    assert mallory.organization_id == alice.organization_id and membership(mallory).role == "viewer"
    menu = client.get(reverse("agents:list")).content.decode()
    assert 'id="org-switch"' in menu and "Evil Corp" in menu
    own = Membership.objects.get(user=mallory, role="owner").organization_id
    client.post(reverse("accounts:switch_organization"), {"organization": own})
    mallory.refresh_from_db()
    assert mallory.organization_id == own
    assert client.post(reverse("accounts:switch_organization"), {"organization": "org-nope"}).status_code == 404


def test_expired_and_revoked_links_do_not_work(alice, client):
    _inv, expired = members.invite(alice, "x@example.com", "editor")
    Invitation.objects.filter(email="x@example.com").update(expires_at=timezone.now() - timedelta(seconds=1))
    invitation, revoked = members.invite(alice, "y@example.com", "editor")
    members.revoke_invitation(alice, invitation.id)
    for link in (expired, revoked):
        assert client.post(link, {"username": "zed", "password": PASSWORD}).status_code == 404
    assert not User.objects.filter(username="zed").exists()


def test_roles_are_managed_by_admins_and_admins_by_owners(alice, bob, org):
    editor = create_user("ed", PASSWORD, organization=org, role="editor")
    assert membership(bob).role == "admin"
    with pytest.raises(Forbidden):
        members.change_role(bob, membership(alice).id, "editor")  # an admin cannot touch an owner
    with pytest.raises(Forbidden):
        members.change_role(bob, membership(editor).id, "admin")  # nor make admins
    members.change_role(bob, membership(editor).id, "viewer")
    assert membership(editor).role == "viewer"
    with pytest.raises(Forbidden):
        members.change_role(editor, membership(bob).id, "viewer")
    with pytest.raises(Conflict):
        members.change_role(alice, membership(alice).id, "admin")  # the last owner
    with pytest.raises(Conflict):
        members.remove_member(alice, membership(alice).id)
    members.change_role(alice, membership(bob).id, "owner")
    members.change_role(alice, membership(alice).id, "admin")  # another owner remains now
    assert membership(alice).role == "admin"


def test_a_removed_member_loses_the_pages_and_the_key_at_once(alice, bob, client):
    agent = create_agent(alice, {"name": "a"})
    key = create_api_key(bob, "laptop")[1]
    api = ApiClient(key)
    client.force_login(bob)
    assert api.get(f"/v1/agents/{agent.id}").status_code == 200
    assert client.get(reverse("agents:workspace", args=[agent.id])).status_code == 200

    members.remove_member(alice, membership(bob).id)
    assert api.get(f"/v1/agents/{agent.id}").status_code == 401
    assert client.get(reverse("agents:workspace", args=[agent.id])).status_code == 404
    bob.refresh_from_db()
    assert bob.organization_id != alice.organization_id  # moved to an organization of his own
    entry = AuditEntry.objects.get(action="member.remove")
    assert entry.actor_name == "alice" and "bob" in entry.summary


def test_the_invite_command_prints_a_link(alice):
    out = StringIO()
    call_command("invite", "ops@example.com", "--org", alice.organization.name, "--role", "viewer", stdout=out)
    invitation = Invitation.objects.get(email="ops@example.com")
    assert invitation.role == "viewer" and invitation.invited_by == alice
    assert members.pending_invitation(token_of(out.getvalue().strip())) == invitation


def test_the_audit_page_filters_and_links(alice, bob, client):
    agent = create_agent(alice, {"name": "writer", "memory_blocks": [{"label": "human", "value": "x"}]})
    block = agent.blocks.get()
    update_block(alice.organization, block.id, {"value": "y"}, actor=Actor.user(bob))
    update_block(alice.organization, block.id, {"value": "z"}, actor=Actor.agent(agent, "memory_replace"))
    client.force_login(alice)
    page = client.get(reverse("accounts:audit"), {"object": block.id}).content.decode()
    assert page.count('data-action="block.update"') == 2 and "writer (memory_replace)" in page
    assert "bob" in page and 'data-action="agent.create"' not in page
    page = client.get(reverse("accounts:audit"), {"person": "alice", "action": "agent."}).content.decode()
    assert f'href="{reverse("agents:workspace", args=[agent.id])}"' in page
    history = client.get(reverse("agents:block_history", args=[agent.id, block.id])).content.decode()
    assert f'?object={block.id}"' in history
    client.force_login(create_user("ed", PASSWORD, organization=alice.organization, role="editor"))
    assert client.get(reverse("accounts:audit")).status_code == 403


def test_an_audit_row_commits_with_its_change_or_not_at_all(alice, monkeypatch):
    agent = create_agent(alice, {"name": "keep me", "memory_blocks": [{"label": "human", "value": "Ann"}]})
    block = agent.blocks.get()
    count = AuditEntry.objects.count()

    def broken(*args, **kwargs):
        raise RuntimeError("the change fails after its audit row was written")

    monkeypatch.setattr("agents.actions.agents.broadcast", broken)  # delete_agent's last step
    with pytest.raises(RuntimeError):
        delete_agent(alice, agent.id)
    assert Agent.objects.filter(id=agent.id).exists() and AuditEntry.objects.count() == count
    monkeypatch.undo()

    monkeypatch.setattr("accounts.audit.insert_rows", broken)  # the audit row fails: no change
    with pytest.raises(RuntimeError):
        update_block(alice.organization, block.id, {"value": "Bea"}, actor=Actor.user(alice))
    with pytest.raises(RuntimeError):
        update_agent(alice, agent.id, {"name": "renamed"})
    assert Block.objects.get(id=block.id).value == "Ann" and Agent.objects.get(id=agent.id).name == "keep me"


def test_audit_entries_are_append_only(alice):
    create_agent(alice, {"name": "a"})
    entry = AuditEntry.objects.get(action="agent.create")
    entry.summary = "rewritten"
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()


def test_admins_see_and_revoke_other_peoples_keys_and_editors_do_not(alice, bob, org, client):
    editor = create_user("ed", PASSWORD, organization=org, role="editor")
    key_id = create_api_key(editor, "ed's laptop")[0].id
    client.force_login(editor)
    assert client.post(reverse("accounts:revoke_key", args=[create_api_key(bob)[0].id])).status_code == 404
    client.force_login(bob)  # an admin
    assert f'id="org-key-{key_id}"' in client.get(reverse("accounts:members")).content.decode()
    client.post(reverse("accounts:revoke_key", args=[key_id]))
    entry = AuditEntry.objects.get(action="api_key.revoke")
    assert entry.actor_name == "bob" and "ed's laptop of ed" == entry.summary


def test_admins_let_viewers_chat(alice, org, client):
    editor = create_user("ed", PASSWORD, organization=org, role="editor")
    client.force_login(editor)
    url = reverse("accounts:organization_settings")
    assert client.post(url, {"viewers_can_chat": "on"}).status_code == 403
    client.force_login(alice)
    client.post(url, {"viewers_can_chat": "on"})
    org.refresh_from_db()
    assert org.viewers_can_chat
    assert AuditEntry.objects.get(action="organization.update").summary == "viewers may chat: yes"


def test_a_queued_turn_of_a_removed_member_does_not_run(alice, bob):
    from agents import runs

    agent = create_agent(alice, {"name": "a"})
    run = runs.start_turn(bob, agent.id, [{"role": "user", "content": "hi"}], background=True)
    members.remove_member(alice, Membership.objects.get(user=bob, organization=alice.organization).id)
    runs.execute_queued(run.id)  # what the Celery task runs
    run.refresh_from_db()
    assert run.status == "failed" and "no longer" in run.error


def test_imports_and_exports_are_audited(alice):
    from agents.agentfile import export_agent, import_agent_file

    agent = create_agent(alice, {"name": "original"})
    document = export_agent(alice, agent.id)
    new_ids = import_agent_file(alice, json.dumps(document, default=str))
    exported = AuditEntry.objects.get(action="agent.export")
    imported = AuditEntry.objects.get(action="agent.import")
    assert exported.object_id == agent.id and imported.object_id == new_ids[0] and "original" in imported.summary


def test_the_members_page_shows_last_activity(alice, bob, client):
    agent = create_agent(alice, {"name": "a"})
    assert membership(bob).last_active_at is None
    ApiClient(create_api_key(bob)[1]).get(f"/v1/agents/{agent.id}")
    client.force_login(alice)
    client.post(reverse("agents:block_create", args=[agent.id]), {"label": "p", "value": "x", "limit": 50})
    assert membership(bob).last_active_at is not None and membership(alice).last_active_at is not None
    row = re.search(r'id="member-bob">(.*?)</tr>', client.get(reverse("accounts:members")).content.decode(), re.S)
    assert " ago" in row.group(1)


def test_only_an_owner_deletes_the_organization_and_its_members_move_on(alice, bob, org, client):
    agent = create_agent(alice, {"name": "a"})
    client.force_login(bob)  # an admin
    url = reverse("accounts:organization_delete")
    assert client.post(url, {"confirm_name": org.name}).status_code == 403
    client.force_login(alice)
    assert client.post(url, {"confirm_name": "wrong"}).status_code == 400
    assert Agent.objects.filter(id=agent.id).exists()
    assert client.post(url, {"confirm_name": org.name}).status_code == 302
    assert not Agent.objects.filter(id=agent.id).exists()
    for person in (alice, bob):
        person.refresh_from_db()
        assert person.organization_id != org.id and membership(person).role == "owner"  # one of their own
