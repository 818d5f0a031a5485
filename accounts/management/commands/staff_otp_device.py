from typing import TextIO, cast

import segno
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.models import User
from accounts.phone import normalize_mobile


class Command(BaseCommand):
    help = (
        "Give a staff user an OTP device for the staff admin: an SMS number (--sms) or an "
        "authenticator app (--totp, prints the enrolment key and QR code once)."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("email", help="The staff user's login email.")
        method = parser.add_mutually_exclusive_group(required=True)
        method.add_argument(
            "--sms", metavar="MOBILE", help="Mobile number with country code, e.g. +919876543210"
        )
        method.add_argument("--totp", action="store_true", help="Enrol an authenticator app.")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        user = User.objects.filter(email__iexact=options["email"].strip()).first()
        if user is None:
            raise CommandError(f"No user has the email {options['email']!r}.")
        if not user.is_staff:
            raise CommandError(
                f"{user.email} is not staff; make it staff first (createsuperuser or the admin)."
            )
        if options["sms"]:
            try:
                number = normalize_mobile(options["sms"])
            except ValidationError as error:
                raise CommandError(f"--sms: {' '.join(error.messages)}") from error
            services.staff_sms_device_set(user=user, number=number)
            self.stdout.write(self.style.SUCCESS(f"Admin login codes for {user.email} go to {number}."))
            return
        device = services.staff_totp_device_create(user=user)
        self.stdout.write(f"Authenticator enrolment for {user.email} (shown once; scan or type it now):")
        self.stdout.write(device.config_url)
        segno.make(device.config_url, error="m").terminal(out=cast(TextIO, self.stdout), compact=True)
