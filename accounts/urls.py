from django.contrib.auth import views as auth_views
from django.urls import path

from . import team_views, views

app_name = "accounts"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("account/api-keys/", views.api_keys, name="api_keys"),
    path("account/api-keys/<str:key_id>/revoke/", views.revoke_key, name="revoke_key"),
    path("members/", team_views.members_page, name="members"),
    path("members/<str:member_id>/role/", team_views.member_role, name="member_role"),
    path("members/<str:member_id>/remove/", team_views.member_remove, name="member_remove"),
    path("invitations/<str:invitation_id>/revoke/", team_views.invitation_revoke, name="invitation_revoke"),
    path("join/<str:token>/", team_views.join, name="join"),
    path("organization/settings/", team_views.organization_settings, name="organization_settings"),
    path("organization/delete/", team_views.organization_delete, name="organization_delete"),
    path("orgs/switch/", team_views.switch_organization, name="switch_organization"),
    path("audit/", team_views.audit_page, name="audit"),
]
