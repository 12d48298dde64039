from django.core.management.base import BaseCommand, CommandError

from accounts.actions import create_api_key
from accounts.models import User


class Command(BaseCommand):
    help = "Create an API key for USER and print it once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="")

    def handle(self, *args, username, name, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        _key, raw = create_api_key(user, name)
        self.stdout.write(raw)
