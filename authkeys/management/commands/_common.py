"""Shared by the authkeys management commands: finding a company or a key from what staff type,
argument types, and turning a service's ValidationError into a CommandError."""

import argparse
import re
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import Company
from accounts.phone import normalize_mobile
from authkeys import keys
from authkeys.models import AuthKey, KeySecret

_PHONE_LIKE = re.compile(r"^\+?[0-9][0-9 ()./-]*$")
_SHOWN_MATCHES = 10


def errors_of(error: ValidationError) -> str:
    return " ".join(error.messages)


def command_error(error: ValidationError, prefix: str = "") -> CommandError:
    return CommandError(f"{prefix}{errors_of(error)}")


def find_company(value: str) -> Company:
    """A company by numeric id, registered email or registered mobile (any usual spelling)."""
    text = (value or "").strip()
    if not text:
        raise CommandError("No company matches an empty value: give its id, registered email or mobile.")
    if "@" in text:
        company = Company.objects.filter(registered_email__iexact=text).first()
        if company is None:
            raise CommandError(f"No company matches “{text}”: no company has that registered email.")
        return company
    if text.isdigit():
        company = Company.objects.filter(pk=int(text)).first()
        if company is not None:
            return company
        if len(text) < 7:
            raise CommandError(f"No company matches “{text}”: no company has that id.")
    if not _PHONE_LIKE.match(text):
        raise CommandError(
            f"No company matches “{text}”: give the company's id, registered email or registered mobile."
        )
    try:
        mobile = normalize_mobile(text)
    except ValidationError as error:
        raise CommandError(f"No company matches “{text}”: {errors_of(error)}") from error
    company = Company.objects.filter(registered_mobile=mobile).first()
    if company is None:
        tried = "id or registered mobile" if text.isdigit() else "registered mobile"
        raise CommandError(f"No company matches “{text}”: no company has that {tried} ({mobile}).")
    return company


def _describe(authkey: AuthKey) -> str:
    return f"id {authkey.pk} {authkey.display_prefix}… “{authkey.name}” of {authkey.company}"


def find_key(value: str) -> AuthKey:
    """A key by numeric id, display prefix ("smsp_xxxxxx", the start of one, with or without "…"),
    or the full key itself (matched by digest, like the API does)."""
    text = (value or "").strip().removesuffix("…").removesuffix("...")
    queryset = AuthKey.objects.select_related("company", "rule")
    if text.isdigit():
        authkey = queryset.filter(pk=int(text)).first()
        if authkey is None:
            raise CommandError(f"No key has the id {text}.")
        return authkey
    if not text.startswith(keys.PREFIX) or len(text) == len(keys.PREFIX):
        raise CommandError(
            f"“{value}” is not a key id or a display prefix: give the numeric id or the prefix "
            f"shown in the panel, e.g. {keys.PREFIX}Ab12Cd."
        )
    if len(text) > keys.DISPLAY_PREFIX_LENGTH:
        if not keys.is_well_formed(text):
            raise CommandError(
                f"“{value}” is longer than a display prefix ({keys.DISPLAY_PREFIX_LENGTH} characters) "
                "and is not a valid key either (wrong length or checksum)."
            )
        secret = KeySecret.objects.filter(digest=keys.digest(text)).select_related("authkey").first()
        if secret is None:
            raise CommandError("No key matches that full key (it may have been regenerated or deleted).")
        return queryset.get(pk=secret.authkey_id)
    # LIKE is case-insensitive on SQLite: narrow in the database, decide case-sensitively here.
    candidates = [
        authkey
        for authkey in queryset.filter(display_prefix__istartswith=text).order_by("pk")
        if authkey.display_prefix.startswith(text)
    ]
    if not candidates:
        raise CommandError(f"No key has a display prefix starting with “{text}”.")
    if len(candidates) > 1:
        listed = "; ".join(_describe(authkey) for authkey in candidates[:_SHOWN_MATCHES])
        more = f" and {len(candidates) - _SHOWN_MATCHES} more" if len(candidates) > _SHOWN_MATCHES else ""
        raise CommandError(
            f"“{text}” matches {len(candidates)} keys: {listed}{more}. Give the key id instead."
        )
    return candidates[0]


def _moment(value: str, *, date_means_end: bool) -> datetime:
    """A date (YYYY-MM-DD, in TIME_ZONE: its start, or with `date_means_end` the start of the next
    day) or an ISO 8601 datetime (without an offset it is read in TIME_ZONE)."""
    text = value.strip()
    try:
        if ":" in text:
            moment = datetime.fromisoformat(text)
        else:
            day = date.fromisoformat(text) + timedelta(days=1 if date_means_end else 0)
            moment = datetime.combine(day, time.min)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"“{value}” is not a date (YYYY-MM-DD) or an ISO datetime (YYYY-MM-DDTHH:MM[:SS][+HH:MM])."
        ) from None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def expiry(value: str) -> datetime:
    """argparse type: YYYY-MM-DD (the key works until the end of that day) or an ISO datetime."""
    return _moment(value, date_means_end=True)


def start(value: str) -> datetime:
    """argparse type: YYYY-MM-DD (the key works from the start of that day) or an ISO datetime."""
    return _moment(value, date_means_end=False)


def grace_hours(value: str) -> int:
    """argparse type: whole hours from 0 to 24."""
    try:
        hours = int(value)
    except ValueError:
        hours = -1
    if not 0 <= hours <= 24:
        raise argparse.ArgumentTypeError(f"“{value}” is not a whole number of hours from 0 to 24.")
    return hours
