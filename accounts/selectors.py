"""Reads for accounts. Everything a company user can address is looked up through its company."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import Company, ContactChange, User


def company_members(*, company: Company) -> QuerySet[User]:
    return User.objects.filter(company=company, is_active=True).order_by("role", "email")


def company_member(*, company: Company, pk: int) -> User:
    """404 for a user of another company, as for one that does not exist."""
    return get_object_or_404(User, company=company, is_active=True, pk=pk)


def contact_change_for_company(*, company: Company, pk: int) -> ContactChange:
    """404 for another company's change, as for one that does not exist."""
    return get_object_or_404(ContactChange, company=company, pk=pk)


def open_contact_change(*, company: Company) -> ContactChange | None:
    change = ContactChange.objects.filter(company=company, confirmed_at=None, cancelled_at=None).first()
    return change if change and change.is_open else None
