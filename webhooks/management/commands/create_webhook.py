from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandParser

from authkeys.management.commands._common import command_error, find_company
from webhooks import services
from webhooks.models import EVENT_TYPES, STATUS_EVENT


class Command(BaseCommand):
    help = (
        "Create a webhook endpoint for a company, through the same service as Settings → Webhooks "
        "(URL checked against SSRF, audited). The signing secret is printed once, alone on the last "
        "line of stdout; the summary goes to stderr."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--company", required=True, help="Company id, registered (owner) email or registered mobile."
        )
        parser.add_argument(
            "--url", required=True, help="http(s) URL of the receiver (public addresses only)."
        )
        parser.add_argument(
            "--event",
            dest="events",
            nargs="+",
            action="extend",
            default=[],
            metavar="TYPE",
            help=f"Event types to subscribe to (default: {STATUS_EVENT}). Known: {', '.join(EVENT_TYPES)}.",
        )
        parser.add_argument("--description", default="", help="A note shown on the Webhooks page.")

    def handle(self, *args: Any, **options: Any) -> None:
        company = find_company(options["company"])
        try:
            endpoint, secret = services.endpoint_create(
                company=company,
                actor=None,
                url=options["url"],
                event_types=options["events"] or [STATUS_EVENT],
                description=options["description"],
            )
        except ValidationError as error:
            raise command_error(error, "Nothing was created. ") from error
        plain = str
        self.stderr.write(
            f"Created webhook endpoint {endpoint.pk} for {company} (id {company.pk}): {endpoint.url}",
            style_func=self.style.SUCCESS,
        )
        self.stderr.write(f"Events: {', '.join(endpoint.event_types)}.", style_func=plain)
        self.stderr.write(
            "The signing secret follows on stdout. It is shown this once and cannot be recovered "
            "(rotate it on the Webhooks page if it is lost).",
            style_func=plain,
        )
        self.stdout.write(secret)
