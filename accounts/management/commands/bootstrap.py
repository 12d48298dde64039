import os
import secrets

from django.core.management.base import BaseCommand

from accounts.actions import create_api_key, create_user
from accounts.models import User


class Command(BaseCommand):
    help = "On first run: create an organization, an admin user and an API key, and print them once."

    def handle(self, *args, **options):
        if User.objects.exists():
            self.stdout.write("Engram is set up; sign in with your existing account.")
            return
        username = os.environ.get("ENGRAM_ADMIN_USER", "admin")
        password = os.environ.get("ENGRAM_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        user = create_user(username, password, org_name="Default organization", is_staff=True)
        _key, raw = create_api_key(user, "created on first run")
        port = os.environ.get("PORT", "8000")
        self.stdout.write(self.style.SUCCESS("Engram first run: save these now, they are shown only once."))
        self.stdout.write(f"  URL:       http://127.0.0.1:{port}/")
        self.stdout.write(f"  username:  {username}")
        self.stdout.write(f"  password:  {password}")
        self.stdout.write(f"  API key:   {raw}")
