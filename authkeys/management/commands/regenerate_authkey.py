from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandParser

from authkeys import services
from authkeys.management.commands._common import command_error, find_key, grace_hours


class Command(BaseCommand):
    help = (
        "Give a key a new secret. The new key is printed once, alone on the last line of stdout. "
        "The old one stops at once, or after --grace-hours."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key", help="Key id or display prefix (smsp_xxxxxx).")
        parser.add_argument(
            "--grace-hours",
            type=grace_hours,
            default=0,
            metavar="N",
            help="Keep the old key working for N hours (0 to 24; default 0: it stops now).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        authkey = find_key(options["key"])
        before = authkey.display_prefix
        hours = options["grace_hours"]
        try:
            secret = services.authkey_regenerate(authkey=authkey, actor=None, grace_seconds=hours * 3600)
        except ValidationError as error:
            raise command_error(error) from error
        authkey.refresh_from_db()
        plain = str
        self.stderr.write(
            f"Regenerated key “{authkey.name}” (id {authkey.pk}) of {authkey.company}: "
            f"{before}… → {authkey.display_prefix}….",
            style_func=self.style.SUCCESS,
        )
        if hours:
            self.stderr.write(f"The old key keeps working for {hours} hour(s).", style_func=plain)
        else:
            self.stderr.write("The old key has stopped working.", style_func=plain)
        self.stderr.write(
            "The new key follows on stdout. It is shown this once and cannot be recovered: store it now.",
            style_func=plain,
        )
        self.stdout.write(secret)
