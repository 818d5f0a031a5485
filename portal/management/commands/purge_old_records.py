from argparse import ArgumentTypeError
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from portal import retention


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ArgumentTypeError(f"“{value}” is not a whole number.") from None
    if number < 1:
        raise ArgumentTypeError(f"{number} is not allowed: give a number of at least 1.")
    return number


class Command(BaseCommand):
    help = "Delete failed logs, alerts and webhook deliveries older than the retention period, in batches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=_positive,
            default=None,
            help=f"Keep this many days (default RETENTION_DAYS = {settings.RETENTION_DAYS}).",
        )
        parser.add_argument(
            "--batch-size",
            type=_positive,
            default=None,
            help=f"Rows per delete (default RETENTION_BATCH_SIZE = {settings.RETENTION_BATCH_SIZE}).",
        )

    def handle(self, *args: Any, days: int | None, batch_size: int | None, **options: Any) -> None:
        deleted = retention.purge_old_records(days=days, batch_size=batch_size)
        kept = days or settings.RETENTION_DAYS
        for name, count in deleted.items():
            self.stdout.write(f"{name}: {count} deleted (older than {kept} days)")
