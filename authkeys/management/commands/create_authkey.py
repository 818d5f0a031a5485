from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Q

from accounts.models import Company
from authkeys import services
from authkeys.ipaddrs import normalize_entry
from authkeys.management.commands._common import command_error, errors_of, expiry, find_company, start
from authkeys.models import Rule


def _find_rule(company: Company, name: str | None) -> Rule:
    usable = Rule.objects.filter(Q(company=company) | Q(company__isnull=True))
    if name is None:
        return usable.get(company__isnull=True, all_services=True)
    rule = usable.filter(name__iexact=" ".join(name.split())).first()
    if rule is None:
        names = ", ".join(f"“{r.name}”" for r in usable.order_by("-all_services", "name"))
        raise CommandError(f"No rule named “{name}” for {company}. Rules it can use: {names}.")
    return rule


def normalized_entries(entries: list[str]) -> list[str]:
    """Every entry parsed first; all bad ones named together. Duplicates are dropped."""
    networks: list[str] = []
    problems: list[str] = []
    for entry in entries:
        try:
            network = normalize_entry(entry)
        except ValidationError as error:
            problems.append(errors_of(error))
            continue
        if network not in networks:
            networks.append(network)
    if problems:
        raise CommandError("Nothing was changed. Bad IP entries: " + " ".join(problems))
    return networks


class Command(BaseCommand):
    help = (
        "Create an API key for a company. The key is printed once, alone on the last line of "
        "stdout; the summary goes to stderr."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--company", required=True, help="Company id, registered email or registered mobile."
        )
        parser.add_argument("--name", required=True, help="Key name: letters, digits, spaces, - and _.")
        parser.add_argument("--rule", help="Rule name (default: the built-in “All services”).")
        parser.add_argument("--use-case", default="", help="“Where are you integrating”.")
        parser.add_argument(
            "--no-ip-security",
            dest="ip_security",
            action="store_false",
            help="Accept requests from any IP (unless the company's Additional Security is on).",
        )
        parser.add_argument(
            "--expires",
            type=expiry,
            help="YYYY-MM-DD (works until the end of that day) or an ISO datetime.",
        )
        parser.add_argument(
            "--valid-from",
            type=start,
            help="YYYY-MM-DD (from the start of that day) or an ISO datetime; refused before it.",
        )
        parser.add_argument(
            "--ip",
            dest="ips",
            nargs="+",
            action="extend",
            default=[],
            metavar="ENTRY",
            help="IPv4, IPv6 or CIDR entries to whitelist for the key.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        company = find_company(options["company"])
        rule = _find_rule(company, options["rule"])
        networks = normalized_entries(options["ips"])
        try:
            with transaction.atomic():
                authkey, secret = services.authkey_create(
                    company=company,
                    actor=None,
                    name=options["name"],
                    rule=rule,
                    use_case=options["use_case"],
                    ip_security=options["ip_security"],
                    expires_at=options["expires"],
                    valid_from=options["valid_from"],
                )
                for network in networks:
                    services.key_ip_add(authkey=authkey, actor=None, entry=network)
        except ValidationError as error:
            raise command_error(error, "Nothing was created. ") from error

        plain = str
        self.stderr.write(
            f"Created key “{authkey.name}” (id {authkey.pk}, {authkey.display_prefix}…) for {company} "
            f"(id {company.pk}).",
            style_func=self.style.SUCCESS,
        )
        self.stderr.write(f"Rule: {rule.name}. Use case: {authkey.use_case or '—'}.", style_func=plain)
        expires = authkey.expires_at.isoformat() if authkey.expires_at else "never"
        valid_from = authkey.valid_from.isoformat() if authkey.valid_from else "now"
        self.stderr.write(f"Valid from: {valid_from}. Expires: {expires}.", style_func=plain)
        state = "on" if authkey.ip_security else "off"
        listed = ", ".join(networks) if networks else "none"
        self.stderr.write(f"IP security: {state}. Whitelisted for this key: {listed}.", style_func=plain)
        if authkey.ip_security and not networks:
            self.stderr.write(
                "IP security is on and this key has no whitelisted IP: requests are refused unless "
                f"the company's list allows them (whitelist_ip --key {authkey.pk} ENTRY).",
                style_func=self.style.WARNING,
            )
        self.stderr.write(
            "The key follows on stdout. It is shown this once and cannot be recovered: store it now.",
            style_func=plain,
        )
        self.stdout.write(secret)
