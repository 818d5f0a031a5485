import itertools

import factory
from factory.django import DjangoModelFactory

from accounts.models import Company, User

PASSWORD = "correct-horse-battery-staple"
_mobiles = itertools.count(1000)


def next_mobile() -> str:
    # +91 98xxxxxxxx are valid Indian mobile numbers for phonenumbers.
    return f"+91987650{next(_mobiles):04d}"


class CompanyFactory(DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"Company {n}")
    registered_mobile = factory.LazyFunction(next_mobile)
    registered_email = factory.Sequence(lambda n: f"alerts{n}@company.example")
    sms_balance = 100


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@company.example")
    full_name = factory.Faker("name")
    company = factory.SubFactory(CompanyFactory)
    role = User.Role.OWNER
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create:
            obj.save()


def builtin_rule():  # type: ignore[no-untyped-def]
    from authkeys.models import Rule

    return Rule.objects.get(company=None, name="All services")


def make_key(company=None, **kwargs):  # type: ignore[no-untyped-def]
    """A key made through the real service: returns (authkey, full secret)."""
    from authkeys.services import authkey_create

    company = company or CompanyFactory()
    kwargs.setdefault("name", f"Key {next(_mobiles)}")
    kwargs.setdefault("rule", builtin_rule())
    kwargs.setdefault("actor", None)
    return authkey_create(company=company, **kwargs)


def make_message(company, *, recipients=(("919876543210", "DELIVERED", ""),), **kwargs):  # type: ignore[no-untyped-def]
    """An accepted message with its recipients, written directly (no debit): for read-side tests.
    `recipients` are (msisdn, status, error) triples."""
    from uuid import uuid4

    from messaging.models import Message, Recipient

    parts = kwargs.pop("parts", 1)
    message = Message.objects.create(
        company=company,
        dialect=kwargs.pop("dialect", "msg91"),
        endpoint=kwargs.pop("endpoint", "/api/sendhttp.php"),
        sender=kwargs.pop("sender", "ACMEIN"),
        text=kwargs.pop("text", "Hello"),
        encoding="gsm7",
        parts=parts,
        recipient_count=len(recipients),
        credits=parts * len(recipients),
        delivery=Message.Delivery.SUBMITTED,
        **kwargs,
    )
    Recipient.objects.bulk_create(
        Recipient(
            message=message,
            msisdn=msisdn,
            message_uid=str(uuid4()),
            status=status,
            error=error,
            status_at=message.created_at,
        )
        for msisdn, status, error in recipients
    )
    return message
