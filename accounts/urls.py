from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("account/api-keys/", views.api_keys, name="api_keys"),
    path("account/api-keys/<str:key_id>/revoke/", views.revoke_key, name="revoke_key"),
]
