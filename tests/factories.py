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
