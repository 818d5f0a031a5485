from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from authkeys import services
from authkeys.management.commands._common import find_key


class Command(BaseCommand):
    help = "Disable a key (requests with it are refused at once), or enable it again with --enable."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key", help="Key id, display prefix (smsp_xxxxxx) or the full key.")
        parser.add_argument("--enable", action="store_true", help="Enable the key instead.")

    def handle(self, *args: Any, **options: Any) -> None:
        authkey = find_key(options["key"])
        enabled = options["enable"]
        state = "enabled" if enabled else "disabled"
        described = f"Key “{authkey.name}” (id {authkey.pk}, {authkey.display_prefix}…) of {authkey.company}"
        if authkey.enabled == enabled:
            self.stdout.write(f"{described} was already {state}; nothing changed.")
            return
        services.authkey_set_enabled(authkey=authkey, actor=None, enabled=enabled)
        self.stdout.write(self.style.SUCCESS(f"{described} is now {state}."))
