from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from authkeys import services
from authkeys.management.commands._common import errors_of, find_company, find_key
from authkeys.management.commands.create_authkey import normalized_entries


class Command(BaseCommand):
    help = (
        "Whitelist IPv4, IPv6 or CIDR entries for one key (--key) or for every key of a company "
        "(--company). Exits non-zero if any entry could not be added."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--key", help="Key id, display prefix (smsp_xxxxxx) or the full key.")
        target.add_argument("--company", help="Company id, registered email or registered mobile.")
        parser.add_argument("entries", nargs="+", metavar="ENTRY", help="IPv4, IPv6 or CIDR entry.")

    def handle(self, *args: Any, **options: Any) -> None:
        authkey = find_key(options["key"]) if options["key"] else None
        company = authkey.company if authkey else find_company(options["company"])
        if authkey is not None:
            scope = f"key “{authkey.name}” ({authkey.display_prefix}…) of {company}"
        else:
            scope = f"every key of {company}"
        # Entries that are not IPs at all stop everything before any change.
        networks = normalized_entries(options["entries"])
        failures: list[str] = []
        for network in networks:
            try:
                if authkey is not None:
                    services.key_ip_add(authkey=authkey, actor=None, entry=network)
                else:
                    services.company_ip_add(company=company, actor=None, entry=network)
            except ValidationError as error:
                failures.append(errors_of(error))
                continue
            self.stdout.write(self.style.SUCCESS(f"Whitelisted {network} for {scope}."))
        if failures:
            added = len(networks) - len(failures)
            raise CommandError(
                f"{len(failures)} of {len(networks)} entries not whitelisted ({added} added): "
                + " ".join(failures)
            )
