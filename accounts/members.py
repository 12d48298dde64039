"""Members, roles, invitations and the current organization. Each action checks the caller's permission
(accounts.permissions), changes rows in one transaction, and writes its audit entry in that transaction."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from ade.errors import Conflict, Invalid, NotFound
from ade.events import broadcast, user_group

from . import audit
from .models import ApiKey, Invitation, Membership, Organization, Role, User, hash_key
from .permissions import RANK, check, forget_roles

STRONG_ROLES = (Role.ADMIN, Role.OWNER)  # only owners grant, change or remove these


def _role(value: str) -> str:
    if value not in Role.values:
        raise Invalid(f"role must be one of {', '.join(Role.values)}", field="role")
    return value


def _check_may_assign(user, role: str) -> None:
    check(user, "own" if role in STRONG_ROLES else "manage")


def members_of(user):
    """The current organization's memberships (any member may see who else is in it)."""
    check(user, "read")
    return Membership.objects.filter(organization_id=user.organization_id).select_related("user")


def invitations_of(user):
    check(user, "manage")
    return Invitation.objects.filter(organization_id=user.organization_id).select_related("invited_by")


def invite(user, email: str, role: str, *, base_url: str = "") -> tuple[Invitation, str]:
    """Invite `email` to the user's current organization; returns the invitation and its one-time link (the raw
    token is never stored). The link is emailed after commit through Django's email backend."""
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 254:
        raise Invalid("email must be an email address", field="email")
    _check_may_assign(user, _role(role))
    token = secrets.token_urlsafe(32)
    days = getattr(settings, "INVITATION_DAYS", 7)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            organization_id=user.organization_id,
            email=email,
            role=role,
            token_hash=hash_key(token),
            invited_by=user,
            expires_at=timezone.now() + timedelta(days=days),
        )
        audit.record(
            user.organization_id, user, "invitation.create", object_id=invitation.id, summary=f"{email} as {role}"
        )
    link = f"{base_url.rstrip('/')}/join/{token}/"
    org_name = Organization.objects.get(id=user.organization_id).name
    transaction.on_commit(lambda: _send_invitation(email, org_name, role, link, days))
    return invitation, link


def _send_invitation(email: str, org_name: str, role: str, link: str, days: int) -> None:
    body = f"You are invited to join {org_name} on Engram as {role}.\n\nOpen this link within {days} days: {link}\n"
    send_mail(f"Join {org_name} on Engram", body, None, [email], fail_silently=True)


def pending_invitation(token: str) -> Invitation:
    """The invitation behind a raw token if it can still be accepted, else NotFound."""
    invitation = Invitation.objects.select_related("organization").filter(token_hash=hash_key(token or "")).first()
    if invitation is None or not invitation.is_pending:
        raise NotFound("This invitation link is invalid, used, revoked or expired")
    return invitation


def accept_invitation(user: User, token: str) -> Membership:
    """Join the invitation's organization with its role (once); it becomes the user's current organization."""
    with transaction.atomic():
        invitation = pending_invitation(token)
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if not invitation.is_pending:  # accepted or revoked by someone else meanwhile
            raise NotFound("This invitation link is invalid, used, revoked or expired")
        org_id = invitation.organization_id
        if Membership.objects.filter(organization_id=org_id, user=user).exists():
            raise Conflict("You are already a member of this organization")
        membership = Membership.objects.create(organization_id=org_id, user=user, role=invitation.role)
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        user.organization_id = org_id
        user.save(update_fields=["organization"])
        forget_roles(user)
        audit.record(
            org_id,
            user,
            "member.join",
            object_id=membership.id,
            summary=f"{user.username} joined as {invitation.role} (invited as {invitation.email})",
        )
    return membership


def revoke_invitation(user, invitation_id: str) -> Invitation:
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .filter(id=invitation_id, organization_id=user.organization_id)
            .first()
        )
        if invitation is None:
            raise NotFound("Invitation not found")
        _check_may_assign(user, invitation.role)
        if invitation.accepted_at is not None:
            raise Conflict("This invitation was already accepted")
        if invitation.revoked_at is None:
            invitation.revoked_at = timezone.now()
            invitation.save(update_fields=["revoked_at"])
            audit.record(
                user.organization_id, user, "invitation.revoke", object_id=invitation.id, summary=invitation.email
            )
    return invitation


def _locked_member(user, member_id: str) -> Membership:
    # Lock every membership of the organization (fixed order), so two changes cannot both remove the last owner.
    rows = list(Membership.objects.select_for_update().filter(organization_id=user.organization_id).order_by("id"))
    for row in rows:
        if row.id == member_id:
            return row
    raise NotFound("Member not found")


def _keep_an_owner(membership: Membership) -> None:
    owners = Membership.objects.filter(organization_id=membership.organization_id, role=Role.OWNER)
    if membership.role == Role.OWNER and not owners.exclude(pk=membership.pk).exists():
        raise Conflict("An organization keeps at least one owner")


def change_role(user, member_id: str, role: str) -> Membership:
    _role(role)
    with transaction.atomic():
        membership = _locked_member(user, member_id)
        _check_may_assign(user, max(role, membership.role, key=RANK.get))
        if membership.role != role:
            if role != Role.OWNER:
                _keep_an_owner(membership)
            old, membership.role = membership.role, role
            membership.save(update_fields=["role"])
            name = membership.user.username
            broadcast(user_group(membership.user_id), {"type": "access_changed"})
            audit.record(
                user.organization_id, user, "member.role", object_id=membership.id, summary=f"{name}: {old} → {role}"
            )
    return membership


def remove_member(user, member_id: str) -> None:
    """Remove a member: their pages, sockets and API keys lose the organization at once (every check reads the
    membership). If it was their current organization they move to another of theirs, or a new one of their own."""
    with transaction.atomic():
        membership = _locked_member(user, member_id)
        _check_may_assign(user, membership.role)
        _keep_an_owner(membership)
        member = membership.user
        membership.delete()
        if member.organization_id == user.organization_id:
            other = Membership.objects.filter(user=member).order_by("created_at").first()
            member.organization_id = other.organization_id if other else None
            member.save(update_fields=["organization"])  # None: User.save gives them an organization of their own
        broadcast(user_group(member.pk), {"type": "access_changed"})  # their open pages close at once
        audit.record(
            user.organization_id,
            user,
            "member.remove",
            object_id=member_id,
            summary=f"{member.username} ({membership.role})",
        )


def switch_organization(user: User, org_id: str) -> Organization:
    """Make another organization the user's current one (they must be a member)."""
    membership = Membership.objects.select_related("organization").filter(user=user, organization_id=org_id).first()
    if membership is None:
        raise NotFound("Organization not found")
    user.organization = membership.organization
    user.save(update_fields=["organization"])
    return membership.organization


def update_organization(user, *, viewers_can_chat: bool) -> Organization:
    """Organization settings (admins): whether viewers may chat with agents in the simulator."""
    check(user, "manage")
    with transaction.atomic():
        organization = Organization.objects.select_for_update().get(id=user.organization_id)
        if organization.viewers_can_chat != viewers_can_chat:
            organization.viewers_can_chat = viewers_can_chat
            organization.save(update_fields=["viewers_can_chat"])
            summary = f"viewers may chat: {'yes' if viewers_can_chat else 'no'}"
            audit.record(organization.id, user, "organization.update", object_id=organization.id, summary=summary)
    return organization


def delete_organization(user, confirm_name: str) -> None:
    """Delete the current organization and everything in it (owners; `confirm_name` must be its name). Its
    members move to another organization of theirs, or a new one of their own. Its audit log goes with it."""
    check(user, "own")
    with transaction.atomic():
        organization = Organization.objects.select_for_update().get(id=user.organization_id)
        if confirm_name != organization.name:
            raise Invalid("type the organization's name to confirm", field="confirm_name")
        people = list(User.objects.filter(memberships__organization=organization).distinct())
        Membership.objects.filter(organization=organization).delete()
        for person in people:
            if person.organization_id == organization.id:
                other = Membership.objects.filter(user=person).order_by("created_at").first()
                person.organization_id = other.organization_id if other else None
                person.save(update_fields=["organization"])  # None: User.save gives them an organization
            broadcast(user_group(person.pk), {"type": "access_changed"})
        organization.delete()
    user.refresh_from_db()
    forget_roles(user)


def keys_in_organization(user):
    """Every active API key acting in the current organization (admins see and revoke other people's keys)."""
    check(user, "manage")
    return ApiKey.objects.filter(organization_id=user.organization_id, revoked_at=None).select_related("user")


def organizations_of(user: User):
    return Membership.objects.filter(user=user).select_related("organization").order_by("organization__name")
