from django.core.management.base import BaseCommand

from incidents.demo import load_portal_demo
from oncall.demo import load_oncall_demo
from registry.demo import DEMO_ACCOUNTS, load_demo


class Command(BaseCommand):
    help = (
        "Load the demo registry (Connect, OraTweet, People and the IT systems under them, SSO's "
        "own on-call). Idempotent."
    )

    def handle(self, *args: object, **options: object) -> None:
        accounts = load_demo()
        load_oncall_demo()
        load_portal_demo()
        self.stdout.write(self.style.SUCCESS("Demo data loaded. Accounts:"))
        for username, password in accounts.items():
            role = {
                "admin": "admin",
                "it": "IT staff",
                "owner": "owner of People",
                "reader": "reader",
            }
            self.stdout.write(
                f"  {username:<7} / {password:<20} {role[username]} ({DEMO_ACCOUNTS[username][0]})"
            )
