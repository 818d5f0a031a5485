from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.models import Company, User
from accounts.otp import sms_device_for

DEMO_COMPANY = "Demo Company"
DEMO_MOBILE = "+919876543210"
DEMO_EMAIL = "owner@demo.example"
DEMO_PASSWORD = "demo-portal-password"  # noqa: S105 (documented development login)
STAFF_EMAIL = "staff@demo.example"
STAFF_MOBILE = "+919876500000"


class Command(BaseCommand):
    help = "Create the demo company, its owner and a staff user (idempotent; development only)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--force", action="store_true", help="Allow running with DEBUG off.")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        if not settings.DEBUG and not options["force"]:
            raise CommandError("seed_demo creates a known password; run it with DEBUG=true (or --force).")
        owner = User.objects.filter(email=DEMO_EMAIL).first()
        if owner is None:
            if Company.objects.filter(registered_mobile=DEMO_MOBILE).exists():
                raise CommandError(f"Another company already uses {DEMO_MOBILE}; cannot seed the demo.")
            owner = services.company_sign_up(
                company_name=DEMO_COMPANY,
                registered_mobile=DEMO_MOBILE,
                registered_email="alerts@demo.example",
                owner_email=DEMO_EMAIL,
                password=DEMO_PASSWORD,
                full_name="Demo Owner",
            )
            company = owner.company
            assert company is not None
            services.company_credit_balance(company=company, amount=1000)
            self.stdout.write(f"Created {DEMO_COMPANY} and its owner.")
        staff = User.objects.filter(email=STAFF_EMAIL).first()
        if staff is None:
            staff = User.objects.create_superuser(
                email=STAFF_EMAIL, password=DEMO_PASSWORD, full_name="Demo Staff"
            )
            device = sms_device_for(staff)
            device.number = STAFF_MOBILE
            device.save(update_fields=["number"])
            self.stdout.write("Created the staff user.")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD} (registered mobile {DEMO_MOBILE})\n"
                f"Staff admin: {STAFF_EMAIL} / {DEMO_PASSWORD} (OTP texted to {STAFF_MOBILE})"
            )
        )
