"""Typed access to the request's user and company for views behind login."""

from typing import cast

from django.http import HttpRequest

from accounts.models import Company, User


def request_user(request: HttpRequest) -> User:
    """The logged-in user (LoginRequiredMiddleware guarantees one on non-public views)."""
    return cast(User, request.user)


def request_company(request: HttpRequest) -> Company:
    """The user's company; only for views behind CompanyMemberRequiredMixin."""
    company = request_user(request).company
    assert company is not None, "CompanyMemberRequiredMixin runs first"
    return company
