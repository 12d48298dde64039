"""Sign-in/out (Django auth) and the user's API keys. Thin: keys are made and revoked by accounts.actions."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from ade.errors import NotFound

from .actions import create_api_key, revoke_api_key
from .forms import ApiKeyForm


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    """Every user can change their own password (this session stays signed in; the others end)."""

    template_name = "accounts/password_change.html"

    def get_success_url(self):
        return reverse("accounts:password_change") + "?done=1"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "done": self.request.GET.get("done") == "1"}


def _keys_page(request, *, form=None, new_key=None, status=200):
    context = {"keys": request.user.api_keys.all(), "form": form or ApiKeyForm(), "new_key": new_key}
    template = "accounts/_keys.html" if request.htmx else "accounts/api_keys.html"
    return render(request, template, context, status=status)


@login_required
def api_keys(request):
    if request.method != "POST":
        return _keys_page(request)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _keys_page(request, form=form, status=400)
    key, raw = create_api_key(request.user, form.cleaned_data["name"], read_only=form.cleaned_data["read_only"])
    # The raw key is rendered once in this response and never stored.
    return _keys_page(request, new_key={"key": key, "raw": raw})


@login_required
@require_POST
def revoke_key(request, key_id):
    try:
        revoke_api_key(request.user, key_id)
    except NotFound:
        return _keys_page(request, status=404)
    if request.htmx:
        return _keys_page(request)
    return redirect("accounts:api_keys")
