"""Settings → Webhooks: endpoints, their secrets (shown once), test events and the delivery log.

Like the Authkey pages: every page sits behind the OTP gate and needs a company; everyone in the
company may look; every change needs an owner or admin (members get 403). Objects come from
selectors with the user's company (another company's are 404); writes go through
webhooks.services, which audit them. The secret is rendered once, in the response to the POST
that made it.
"""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.dateparse import parse_datetime
from django.views import View

from accounts.otp import CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin, SecurityManagerRequiredMixin
from accounts.request import request_company, request_user
from authkeys.auth import client_ip
from webhooks import selectors, services, signing
from webhooks.forms import GRACE_CHOICES, EndpointForm, RotateForm, SwitchForm
from webhooks.models import Endpoint

HTMX_INVALID = 422
PAGE_SIZE = 50
_FIELD_FOR_CODE = {"unsafe_url": "url", "event_types": "event_types", "description": "description"}


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


class SectionMixin(CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin):
    """Any role may look."""


class ManagerMixin(CompanyMemberRequiredMixin, SecurityManagerRequiredMixin, OtpVerifiedRequiredMixin):
    """Changes: owners and admins only."""


def _page_context(request: HttpRequest) -> dict[str, Any]:
    return {
        "can_manage": request_user(request).can_manage_security,
        "secret_bytes": signing.KEY_BYTES,
        "secret_length": len(signing.PREFIX) + 4 * ((signing.KEY_BYTES + 2) // 3),
        "max_attempts": settings.WEBHOOK_MAX_ATTEMPTS,
    }


def _show_secret(request: HttpRequest, endpoint: Endpoint, secret: str, **extra: Any) -> HttpResponse:
    context = {"endpoint": endpoint, "secret": secret, **_page_context(request), **extra}
    response = render(request, "webhooks/secret.html", context)
    add_never_cache_headers(response)
    return response


class IndexView(SectionMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        context = {
            "endpoints": selectors.endpoints_for_company(company=request_company(request)),
            **_page_context(request),
        }
        return render(request, "webhooks/index.html", context)


class _EndpointFormView(ManagerMixin, View):
    template_name = "webhooks/form.html"

    def _render(
        self, form: EndpointForm, endpoint: Endpoint | None = None, status: int = 200
    ) -> HttpResponse:
        context = {"form": form, "endpoint": endpoint, **_page_context(self.request)}
        return render(self.request, self.template_name, context, status=status)


class CreateView(_EndpointFormView):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(EndpointForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = EndpointForm(request.POST)
        if not form.is_valid():
            return self._render(form, status=400)
        data = form.cleaned_data
        try:
            endpoint, secret = services.endpoint_create(
                company=request_company(request),
                actor=request_user(request),
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                actor_ip=client_ip(request),
            )
        except ValidationError as error:
            form.add_error(_FIELD_FOR_CODE.get(error.code or ""), error)
            return self._render(form, status=400)
        return _show_secret(request, endpoint, secret, rotated=False)


class EditView(_EndpointFormView):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = selectors.endpoint_for_company(company=request_company(request), pk=pk)
        initial = {
            "url": endpoint.url,
            "description": endpoint.description,
            "event_types": endpoint.event_types,
        }
        return self._render(EndpointForm(initial=initial), endpoint)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = selectors.endpoint_for_company(company=request_company(request), pk=pk)
        form = EndpointForm(request.POST)
        if not form.is_valid():
            return self._render(form, endpoint, status=400)
        data = form.cleaned_data
        try:
            services.endpoint_update(
                endpoint=endpoint,
                actor=request_user(request),
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                actor_ip=client_ip(request),
            )
        except ValidationError as error:
            form.add_error(_FIELD_FOR_CODE.get(error.code or ""), error)
            return self._render(form, endpoint, status=400)
        messages.success(request, "Webhook endpoint saved.")
        return redirect("webhooks:index")


class ToggleView(ManagerMixin, View):
    """The active switch; HTMX gets the re-rendered row back."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        company = request_company(request)
        endpoint = selectors.endpoint_for_company(company=company, pk=pk)
        form = SwitchForm(request.POST)
        if not form.is_valid():
            return HttpResponse("Choose on or off.", status=400, content_type="text/plain")
        active = form.cleaned_data["active"]
        try:
            services.endpoint_set_active(
                endpoint=endpoint, actor=request_user(request), active=active, actor_ip=client_ip(request)
            )
        except ValidationError as error:
            text = " ".join(error.messages)
            if _is_htmx(request):
                return HttpResponse(text, status=HTMX_INVALID, content_type="text/plain")
            messages.error(request, text)
            return redirect("webhooks:index")
        if _is_htmx(request):
            context = {
                "endpoint": selectors.endpoints_for_company(company=company).get(pk=pk),
                **_page_context(request),
            }
            return render(request, "webhooks/index.html#endpoint_row", context)
        messages.success(request, f"Endpoint {'enabled' if active else 'disabled'}.")
        return redirect("webhooks:index")


class RotateView(ManagerMixin, View):
    template_name = "webhooks/rotate.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = selectors.endpoint_for_company(company=request_company(request), pk=pk)
        return render(request, self.template_name, {"endpoint": endpoint, "form": RotateForm()})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = selectors.endpoint_for_company(company=request_company(request), pk=pk)
        form = RotateForm(request.POST)
        if form.is_valid():
            grace = form.cleaned_data["grace_seconds"]
            try:
                secret, old_until = services.endpoint_rotate_secret(
                    endpoint=endpoint,
                    actor=request_user(request),
                    grace_seconds=grace,
                    actor_ip=client_ip(request),
                )
            except ValidationError as error:
                form.add_error("grace_seconds", error)
            else:
                grace_label = dict(GRACE_CHOICES).get(grace, f"{grace} s")
                return _show_secret(
                    request, endpoint, secret, rotated=True, old_until=old_until, grace_label=grace_label
                )
        return render(request, self.template_name, {"endpoint": endpoint, "form": form}, status=400)


class DeleteView(ManagerMixin, View):
    template_name = "webhooks/delete.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = selectors.endpoint_for_company(company=request_company(request), pk=pk)
        return render(request, self.template_name, {"endpoint": endpoint})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = selectors.endpoint_for_company(company=request_company(request), pk=pk)
        services.endpoint_delete(endpoint=endpoint, actor=request_user(request), actor_ip=client_ip(request))
        messages.success(request, "The webhook endpoint was deleted.")
        return redirect("webhooks:index")


class TestEventView(ManagerMixin, View):
    """Queue a sample event; it is sent by the worker and shows up in the delivery log."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = selectors.endpoint_for_company(company=request_company(request), pk=pk)
        try:
            services.send_test_event(endpoint=endpoint)
        except ValidationError as error:
            text, ok = " ".join(error.messages), False
        else:
            text, ok = "Test event queued: see the delivery log.", True
        if _is_htmx(request):
            context = {"text": text, "ok": ok, "endpoint": endpoint}
            return render(request, "webhooks/log.html#notice", context, status=200 if ok else HTMX_INVALID)
        (messages.success if ok else messages.error)(request, text)
        return redirect("webhooks:log", pk=endpoint.pk)


class LogView(SectionMixin, View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = selectors.endpoint_for_company(company=request_company(request), pk=pk)
        rows = selectors.deliveries(
            endpoint=endpoint, before=_cursor(request.GET.get("before", "")), limit=PAGE_SIZE + 1
        )
        next_cursor = ""
        if len(rows) > PAGE_SIZE:
            rows = rows[:PAGE_SIZE]
            next_cursor = f"{rows[-1].created_at.isoformat()}|{rows[-1].pk}"
        context = {"endpoint": endpoint, "rows": rows, "next_cursor": next_cursor, **_page_context(request)}
        return render(request, "webhooks/log.html", context)


def _cursor(raw: str) -> tuple[Any, int] | None:
    at, _, pk = raw.partition("|")
    parsed = parse_datetime(at) if at else None
    return (parsed, int(pk)) if parsed and pk.isdigit() else None


class ResendView(ManagerMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        delivery = selectors.delivery_for_company(company=request_company(request), pk=pk)
        try:
            delivery = services.delivery_resend(delivery=delivery)
        except ValidationError as error:
            text = " ".join(error.messages)
            if _is_htmx(request):
                return HttpResponse(text, status=HTMX_INVALID, content_type="text/plain")
            messages.error(request, text)
        else:
            if _is_htmx(request):
                delivery.refresh_from_db()
                context = {"row": delivery, "endpoint": delivery.endpoint, **_page_context(request)}
                return render(request, "webhooks/log.html#delivery_row", context)
            messages.success(request, "The event was queued again.")
        return redirect("webhooks:log", pk=delivery.endpoint_id)
