"""Pages of a team: members and invitations, joining by link, switching organization, the audit log. Thin: every
change is an action of accounts.members, which checks the role (403 when it forbids, 404 outside the org)."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ade.errors import DomainError, NotFound

from . import members
from .actions import create_user
from .audit_log import entries_for
from .forms import InviteForm, JoinForm
from .permissions import allows, check


def _refusal(exc: DomainError) -> HttpResponse:
    return HttpResponse(exc.message, status=exc.status)


def _members_page(request, *, form=None, new_link=None, status=200):
    org_id = request.user.organization_id
    context = {
        "memberships": members.members_of(request.user),
        "invitations": [i for i in members.invitations_of(request.user) if i.is_pending]
        if allows(request.user, "manage")
        else [],
        "form": form or InviteForm(),
        "new_link": new_link,
        "org_id": org_id,
        "keys": members.keys_in_organization(request.user) if allows(request.user, "manage") else [],
    }
    return render(request, "accounts/members.html", context, status=status)


@login_required
def members_page(request):
    if request.method != "POST":
        return _members_page(request)
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _members_page(request, form=form, status=400)
    try:
        _invitation, link = members.invite(
            request.user,
            form.cleaned_data["email"],
            form.cleaned_data["role"],
            base_url=request.build_absolute_uri("/"),
        )
    except DomainError as exc:
        return _refusal(exc)
    return _members_page(request, new_link=link)


@login_required
@require_POST
def member_role(request, member_id):
    try:
        members.change_role(request.user, member_id, request.POST.get("role", ""))
    except DomainError as exc:
        return _refusal(exc)
    return redirect("accounts:members")


@login_required
@require_POST
def member_remove(request, member_id):
    try:
        members.remove_member(request.user, member_id)
    except DomainError as exc:
        return _refusal(exc)
    return redirect("accounts:members")


@login_required
@require_POST
def invitation_revoke(request, invitation_id):
    try:
        members.revoke_invitation(request.user, invitation_id)
    except DomainError as exc:
        return _refusal(exc)
    return redirect("accounts:members")


def join(request, token):
    """An invitation link: sign in (or create an account) and join with the invited role."""
    try:
        invitation = members.pending_invitation(token)
    except NotFound as exc:
        return render(request, "accounts/join.html", {"gone": exc.message}, status=404)
    form = JoinForm(request.POST or None)
    if request.method == "POST":
        user = request.user
        if not user.is_authenticated:
            if not form.is_valid():
                return render(request, "accounts/join.html", {"invitation": invitation, "form": form}, status=400)
            try:
                user = create_user(form.cleaned_data["username"], form.cleaned_data["password"], email=invitation.email)
            except DomainError as exc:
                form.add_error("username", exc.message)
                return render(request, "accounts/join.html", {"invitation": invitation, "form": form}, status=400)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        try:
            members.accept_invitation(user, token)
        except DomainError as exc:
            return render(request, "accounts/join.html", {"gone": exc.message}, status=exc.status)
        messages.success(request, f"You joined {invitation.organization.name} as {invitation.role}.")
        return redirect("agents:list")
    return render(request, "accounts/join.html", {"invitation": invitation, "form": form})


@login_required
@require_POST
def organization_settings(request):
    try:
        members.update_organization(request.user, viewers_can_chat=request.POST.get("viewers_can_chat") == "on")
    except DomainError as exc:
        return _refusal(exc)
    return redirect("accounts:members")


@login_required
@require_POST
def organization_delete(request):
    try:
        members.delete_organization(request.user, request.POST.get("confirm_name", ""))
    except DomainError as exc:
        return _refusal(exc)
    messages.success(request, "The organization was deleted.")
    return redirect("agents:list")


@login_required
@require_POST
def switch_organization(request):
    try:
        members.switch_organization(request.user, request.POST.get("organization", ""))
    except DomainError as exc:
        return _refusal(exc)
    return redirect("agents:list")


@login_required
def audit_page(request):
    try:
        check(request.user, "manage")
        page = entries_for(request.user, request.GET)
    except DomainError as exc:
        return _refusal(exc)
    return render(request, "accounts/audit.html", {"page": page, "filters": request.GET})
