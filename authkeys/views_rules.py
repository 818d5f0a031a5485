"""Settings → Rules: which services a key may use.

Everyone in the company sees the rules; owners and admins create, edit and delete them (the
built-in "All services" rule is not addressable here: it is 404 like another company's rule).
"""

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from accounts.otp import CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin, SecurityManagerRequiredMixin
from accounts.request import request_company, request_user
from authkeys import selectors, services
from authkeys.auth import client_ip
from authkeys.forms_rules import RuleDeleteForm, RuleForm
from authkeys.models import Rule


def _add_service_error(form: RuleForm, error: ValidationError) -> None:
    field = "services" if getattr(error, "code", None) == "no_services" else "name"
    form.add_error(field, error)


def _keys_using(rule: Rule) -> list[str]:
    """Names of the keys that use `rule` (a company rule is only ever used by that company's keys)."""
    return list(rule.authkeys.order_by("name").values_list("name", flat=True))


class RuleListView(CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin, View):
    template_name = "authkeys/rules.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        context = {
            "rules": selectors.rules_for_company(company=request_company(request)),
            "can_manage": request_user(request).can_manage_security,
        }
        return render(request, self.template_name, context)


class _RuleChangeView(
    CompanyMemberRequiredMixin, SecurityManagerRequiredMixin, OtpVerifiedRequiredMixin, View
):
    """Changing rules: a company user, owner or admin, with a verified session."""


class RuleCreateView(_RuleChangeView):
    template_name = "authkeys/rules_form.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(RuleForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = RuleForm(request.POST)
        if form.is_valid():
            try:
                rule = services.rule_create(
                    company=request_company(request),
                    actor=request_user(request),
                    name=form.cleaned_data["name"],
                    services=list(form.cleaned_data["services"]),
                    actor_ip=client_ip(request),
                )
            except ValidationError as error:
                _add_service_error(form, error)
            else:
                messages.success(
                    request, f"Rule “{rule.name}” created. Pick it for a key on the Authkey page."
                )
                return redirect("authkeys:rules")
        return self._render(form, status=400)

    def _render(self, form: RuleForm, status: int = 200) -> HttpResponse:
        return render(self.request, self.template_name, {"form": form, "rule": None}, status=status)


class RuleUpdateView(_RuleChangeView):
    template_name = "authkeys/rules_form.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        rule = selectors.rule_for_company(company=request_company(request), pk=pk)
        form = RuleForm(initial={"name": rule.name, "services": list(rule.services.all())})
        return self._render(rule, form)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        rule = selectors.rule_for_company(company=request_company(request), pk=pk)
        form = RuleForm(request.POST)
        if form.is_valid():
            try:
                services.rule_update(
                    rule=rule,
                    actor=request_user(request),
                    name=form.cleaned_data["name"],
                    services=list(form.cleaned_data["services"]),
                    actor_ip=client_ip(request),
                )
            except ValidationError as error:
                _add_service_error(form, error)
                rule.refresh_from_db()
            else:
                messages.success(request, f"Rule “{rule.name}” saved.")
                return redirect("authkeys:rules")
        return self._render(rule, form, status=400)

    def _render(self, rule: Rule, form: RuleForm, status: int = 200) -> HttpResponse:
        return render(self.request, self.template_name, {"form": form, "rule": rule}, status=status)


class RuleDeleteView(_RuleChangeView):
    """A rule no key uses: a plain confirmation. A rule in use: choose where its keys go."""

    template_name = "authkeys/rules_delete.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        rule = selectors.rule_for_company(company=request_company(request), pk=pk)
        return self._render(rule, self._form(rule))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        rule = selectors.rule_for_company(company=request_company(request), pk=pk)
        form = self._form(rule, data=request.POST)
        keys_using = _keys_using(rule)
        if form.is_valid():
            replacement = form.cleaned_data["replacement"]
            try:
                services.rule_delete(
                    rule=rule,
                    actor=request_user(request),
                    replacement=replacement,
                    actor_ip=client_ip(request),
                )
            except ValidationError as error:
                form.add_error("replacement", error)
            else:
                moved = f" Its keys now use “{replacement.name}”." if replacement and keys_using else ""
                messages.success(request, f"Rule “{rule.name}” deleted.{moved}")
                return redirect("authkeys:rules")
        return self._render(rule, form, status=400)

    def _form(self, rule: Rule, **kwargs: Any) -> RuleDeleteForm:
        others = selectors.rules_for_company(company=request_company(self.request)).exclude(pk=rule.pk)
        return RuleDeleteForm(choices=others, **kwargs)

    def _render(self, rule: Rule, form: RuleDeleteForm, status: int = 200) -> HttpResponse:
        context = {"rule": rule, "form": form, "keys_using": _keys_using(rule)}
        return render(self.request, self.template_name, context, status=status)
