import os

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from accounts.members import invite
from accounts.models import Membership, Organization, Role
from ade.errors import DomainError


class Command(BaseCommand):
    help = "Invite EMAIL to an organization with a role; prints the one-time link (also emailed when email is set up)."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--org", required=True, help="organization id or name")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--by", default="", help="username of the inviting admin (default: an owner)")
        parser.add_argument("--url", default=os.environ.get("ENGRAM_URL", ""), help="base URL of the ADE in the link")

    def handle(self, *args, email, org, role, by, url, **options):
        organization = Organization.objects.filter(Q(id=org) | Q(name=org)).first()
        if organization is None:
            raise CommandError(f"no organization {org!r}")
        members = Membership.objects.filter(organization=organization).select_related("user")
        membership = members.filter(user__username=by).first() if by else members.filter(role=Role.OWNER).first()
        if membership is None:
            raise CommandError(f"no member {by!r} in {organization.name}" if by else "the organization has no owner")
        inviter = membership.user
        inviter.organization_id = organization.id  # act in that organization, whatever the inviter's current one
        base_url = url or f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
        try:
            _invitation, link = invite(inviter, email, role, base_url=base_url)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(link)
