"""SMS → Sender IDs, Contact groups and Flows: what the API's `sender`, `group_id` and
`/api/v5/flow/` use, managed by the customer. Every company member may look; owners and admins
change things (the role is checked on every write). Staff still approve sender IDs and flows in
the admin. Views are thin: form → one service (messaging.services) → redirect or render."""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from accounts.otp import CompanyMemberRequiredMixin
from accounts.request import request_company, request_user
from messaging import flows, selectors, services
from messaging.forms import ContactGroupForm, FlowForm, GroupMembersForm, SenderIdRequestForm
from messaging.models import ContactGroup, Flow

MEMBERS_PAGE_SIZE = 100
MANAGERS_ONLY = "Only the company's owner or an admin can change sender IDs, contact groups and flows."


class CatalogMixin(CompanyMemberRequiredMixin):
    """Any company member may GET; every other method needs an owner or admin."""

    request: HttpRequest

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        writes = request.method not in ("GET", "HEAD", "OPTIONS")
        in_company = getattr(request.user, "company_id", None) is not None
        if writes and in_company and not request_user(request).can_manage_security:
            raise PermissionDenied(MANAGERS_ONLY)
        return super().dispatch(request, *args, **kwargs)

    def can_manage(self) -> bool:
        return request_user(self.request).can_manage_security


def _refused(form: Form, field: str | None, error: ValidationError) -> None:
    form.add_error(field, error)


# --- Sender IDs ------------------------------------------------------------------------------------


class SenderIdsView(CatalogMixin, View):
    template_name = "messaging/sender_ids.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(SenderIdRequestForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = SenderIdRequestForm(request.POST)
        if form.is_valid():
            try:
                sender = services.sender_id_request(
                    company=request_company(request), sender=form.cleaned_data["sender"]
                )
            except ValidationError as error:
                _refused(form, "sender", error)
            else:
                messages.success(request, f"Sender ID {sender.sender} requested; it awaits approval.")
                return redirect("messaging:sender_ids")
        return self._render(form, status=400)

    def _render(self, form: SenderIdRequestForm, status: int = 200) -> HttpResponse:
        context = {
            "form": form,
            "rows": selectors.sender_ids(company=request_company(self.request)),
            "require_approved": settings.SMS_REQUIRE_APPROVED_SENDER,
            "can_manage": self.can_manage(),
        }
        return render(self.request, self.template_name, context, status=status)


# --- Contact groups --------------------------------------------------------------------------------


class ContactGroupsView(CatalogMixin, View):
    template_name = "messaging/contact_groups.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(ContactGroupForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ContactGroupForm(request.POST)
        if form.is_valid():
            try:
                group = services.contact_group_create(
                    company=request_company(request), name=form.cleaned_data["name"]
                )
            except ValidationError as error:
                _refused(form, "name", error)
            else:
                messages.success(request, f"Group “{group.name}” created (group_id {group.pk}).")
                return redirect("messaging:contact_group", pk=group.pk)
        return self._render(form, status=400)

    def _render(self, form: ContactGroupForm, status: int = 200) -> HttpResponse:
        context = {
            "form": form,
            "groups": selectors.contact_groups(company=request_company(self.request)),
            "max_members": settings.SMS_GROUP_MAX_MEMBERS,
            "can_manage": self.can_manage(),
        }
        return render(self.request, self.template_name, context, status=status)


class ContactGroupView(CatalogMixin, View):
    """One group: its API id, members (keyset pages by number), add, rename, remove, delete."""

    template_name = "messaging/contact_group.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        group = self._group(pk)
        return self._render(group, GroupMembersForm(), ContactGroupForm(initial={"name": group.name}))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Add members."""
        group = self._group(pk)
        form = GroupMembersForm(request.POST)
        if form.is_valid():
            try:
                added = services.group_members_add(group=group, numbers=request.POST["numbers"])
            except ValidationError as error:
                _refused(form, "numbers", error)
            else:
                given = len(form.cleaned_data["numbers"])
                note = f"{added} number(s) added to “{group.name}”"
                note += f"; {given - added} already in it." if given > added else "."
                messages.success(request, note)
                return redirect("messaging:contact_group", pk=group.pk)
        return self._render(group, form, ContactGroupForm(initial={"name": group.name}), status=400)

    def _group(self, pk: int) -> ContactGroup:
        return selectors.contact_group_for_company(company=request_company(self.request), pk=pk)

    def _render(
        self, group: ContactGroup, add_form: Form, rename_form: Form, status: int = 200
    ) -> HttpResponse:
        after = self.request.GET.get("after", "").strip()
        after = after if after.isdigit() and len(after) <= 16 else ""
        members = selectors.group_members(group=group, after=after, limit=MEMBERS_PAGE_SIZE + 1)
        next_after = ""
        if len(members) > MEMBERS_PAGE_SIZE:
            members = members[:MEMBERS_PAGE_SIZE]
            next_after = members[-1].msisdn
        context = {
            "group": group,
            "members": members,
            "member_count": selectors.group_member_count(group=group),
            "after": after,
            "next_after": next_after,
            "add_form": add_form,
            "rename_form": rename_form,
            "can_manage": self.can_manage(),
        }
        return render(self.request, self.template_name, context, status=status)


class ContactGroupRenameView(ContactGroupView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        group = self._group(pk)
        form = ContactGroupForm(request.POST)
        if form.is_valid():
            old = group.name
            try:
                services.contact_group_rename(group=group, name=form.cleaned_data["name"])
            except ValidationError as error:
                _refused(form, "name", error)
            else:
                messages.success(request, f"Group “{old}” renamed to “{group.name}”.")
                return redirect("messaging:contact_group", pk=group.pk)
        return self._render(group, GroupMembersForm(), form, status=400)


class ContactGroupDeleteView(ContactGroupView):
    template_name = "messaging/contact_group_delete.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.can_manage():  # the confirmation page exists only to delete
            raise PermissionDenied(MANAGERS_ONLY)
        group = self._group(pk)
        context = {"group": group, "member_count": selectors.group_member_count(group=group)}
        return render(request, self.template_name, context)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        group = self._group(pk)
        services.contact_group_delete(group=group)
        messages.success(request, f"Group “{group.name}” deleted.")
        return redirect("messaging:contact_groups")


class GroupMemberRemoveView(ContactGroupView):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int, member_pk: int) -> HttpResponse:  # type: ignore[override]
        group = self._group(pk)
        member = selectors.group_member_for_group(group=group, pk=member_pk)
        services.group_member_remove(member=member)
        messages.success(request, f"{member.msisdn} removed from “{group.name}”.")
        return redirect("messaging:contact_group", pk=group.pk)


# --- Flows -----------------------------------------------------------------------------------------


def _flow_fields(form: FlowForm) -> dict[str, Any]:
    return {name: form.cleaned_data[name] for name in ("name", "template", "sender", "route")}


class FlowsView(CatalogMixin, View):
    template_name = "messaging/flows.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(FlowForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = FlowForm(request.POST)
        if form.is_valid():
            try:
                flow = services.flow_save(company=request_company(request), **_flow_fields(form))
            except ValidationError as error:
                _refused(form, None, error)
            else:
                messages.success(request, f"Flow “{flow.name}” created; it awaits approval.")
                return redirect("messaging:flow", pk=flow.pk)
        return self._render(form, status=400)

    def _render(self, form: FlowForm, status: int = 200) -> HttpResponse:
        context = {
            "form": form,
            "flows": selectors.flows(company=request_company(self.request)),
            "can_manage": self.can_manage(),
        }
        return render(self.request, self.template_name, context, status=status)


class FlowView(CatalogMixin, View):
    """One flow: status, variables, a curl example; editable (back to pending) until approved."""

    template_name = "messaging/flow.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        flow = self._flow(pk)
        initial = {"name": flow.name, "template": flow.template, "sender": flow.sender, "route": flow.route}
        return self._render(flow, FlowForm(initial=initial))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        flow = self._flow(pk)
        form = FlowForm(request.POST)
        if form.is_valid():
            try:
                services.flow_save(company=request_company(request), flow=flow, **_flow_fields(form))
            except ValidationError as error:
                _refused(form, None, error)
            else:
                messages.success(request, f"Flow “{flow.name}” saved; it awaits approval.")
                return redirect("messaging:flow", pk=flow.pk)
        return self._render(flow, form, status=400)

    def _flow(self, pk: int) -> Flow:
        return selectors.flow_for_company(company=request_company(self.request), pk=pk)

    def _render(self, flow: Flow, form: FlowForm, status: int = 200) -> HttpResponse:
        variables = flows.placeholders(flow.template)
        context = {
            "flow": flow,
            "form": form,
            "variables": variables,
            "curl": _curl_example(self.request, flow, variables),
            "editable": flow.status != Flow.Status.APPROVED,
            "can_manage": self.can_manage(),
        }
        return render(self.request, self.template_name, context, status=status)


def _curl_example(request: HttpRequest, flow: Flow, variables: list[str]) -> str:
    url = request.build_absolute_uri("/api/v5/flow/")
    recipient = ", ".join(['"mobiles": "919876543210"', *(f'"{name}": "…"' for name in variables)])
    return (
        f"curl -X POST '{url}' \\\n"
        "  -H 'authkey: YOUR_AUTHKEY' -H 'Content-Type: application/json' \\\n"
        f'  -d \'{{"flow_id": "{flow.flow_id}", "recipients": [{{{recipient}}}]}}\''
    )
