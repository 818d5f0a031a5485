"""Writes of the SMS section's pages. The API's own writes live in messaging.api (the pipeline)."""

from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Company, User
from authkeys import services as authkey_services
from authkeys.models import AuthKey, CompanyAllowedIP, KeyAllowedIP
from messaging.api import parse_mobiles
from messaging.catalogue import Code
from messaging.models import BlockedSender, ContactGroup, FailedRequest, Flow, GroupMember, SenderId
from portal.retention import delete_in_batches

# MSG91 route numbers a flow may name (messaging.policy.ROUTE_ALIASES).
APPROVED_FLOW_FROZEN = "An approved flow cannot be changed; create a new flow instead."
FLOW_ROUTES = {"4": "4 · transactional", "1": "1 · promotional"}


def failed_request_whitelist(
    *, failed: FailedRequest, actor: User | None, authkey: AuthKey | None = None, actor_ip: str | None = None
) -> KeyAllowedIP | CompanyAllowedIP:
    """Failed Logs' Whitelist action on a 418 row: the row's IP goes on one key's list, or on the
    company's list when no key is given, through the Authkey page's services (same validation,
    same audit event, same cache invalidation)."""
    if failed.code != Code.IP_NOT_WHITELISTED:
        raise ValidationError("Only requests refused with 418 (IP not whitelisted) can be whitelisted here.")
    if failed.company_id is None or not failed.client_ip:
        raise ValidationError("This request has no company or no client IP to whitelist.")
    if authkey is not None:
        if authkey.company_id != failed.company_id:
            raise ValidationError("That key belongs to another company.", code="foreign_key")
        return authkey_services.key_ip_add(
            authkey=authkey, actor=actor, entry=failed.client_ip, actor_ip=actor_ip
        )
    assert failed.company is not None
    return authkey_services.company_ip_add(
        company=failed.company, actor=actor, entry=failed.client_ip, actor_ip=actor_ip
    )


def purge_failed_requests(*, older_than: datetime, batch_size: int) -> int:
    """Retention of Failed Logs: company by company (and the rows of unknown keys), so every batch
    is a range scan of the (company, created_at) index rather than a scan of the whole table."""
    old = FailedRequest.objects.filter(created_at__lt=older_than)
    deleted = delete_in_batches(old.filter(company__isnull=True), batch_size=batch_size)
    for company_id in Company.objects.order_by("pk").values_list("pk", flat=True):
        deleted += delete_in_batches(old.filter(company_id=company_id), batch_size=batch_size)
    return deleted


# --- Sender IDs, contact groups and flows (SMS → Sender IDs / Contact groups / Flows) ----------


def normalise_sender(raw: str) -> str:
    """The API's rule for a sender ID (messaging.api: 3 to 11 ASCII letters or digits), upper-case."""
    sender = (raw or "").strip().upper()
    if not sender:
        raise ValidationError("Enter a sender ID.", code="required")
    if not (sender.isascii() and sender.isalnum()):
        raise ValidationError(
            "A sender ID has only letters (A to Z) and digits (no spaces or punctuation).", code="characters"
        )
    if not 3 <= len(sender) <= 11:
        raise ValidationError(
            f"A sender ID has 3 to 11 letters or digits; “{sender}” has {len(sender)}.", code="length"
        )
    return sender


def sender_id_request(*, company: Company, sender: str) -> SenderId:
    """A customer's request for a sender ID: stored *pending*; staff approve it in the admin. With
    SMS_REQUIRE_APPROVED_SENDER the API refuses it (203) until then."""
    value = normalise_sender(sender)
    if BlockedSender.objects.filter(sender=value).exists():
        raise ValidationError(
            f"The sender ID {value} is blacklisted and cannot be used; please choose another one.",
            code="blacklisted",
        )
    if SenderId.objects.filter(company=company, sender=value).exists():
        raise ValidationError(f"Your company already has the sender ID {value}.", code="duplicate")
    try:
        with transaction.atomic():
            return SenderId.objects.create(company=company, sender=value, status=SenderId.Status.PENDING)
    except IntegrityError:  # requested twice at the same moment
        raise ValidationError(f"Your company already has the sender ID {value}.", code="duplicate") from None


def _group_name(company: Company, name: str, *, exclude: ContactGroup | None = None) -> str:
    value = " ".join((name or "").split())
    if not value:
        raise ValidationError("Enter a group name.", code="required")
    if len(value) > 100:
        raise ValidationError("A group name has at most 100 characters.", code="length")
    taken = ContactGroup.objects.filter(company=company, name=value)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise ValidationError(f"You already have a group named “{value}”.", code="taken")
    return value


def contact_group_create(*, company: Company, name: str) -> ContactGroup:
    value = _group_name(company, name)
    try:
        with transaction.atomic():
            return ContactGroup.objects.create(company=company, name=value)
    except IntegrityError:
        raise ValidationError(f"You already have a group named “{value}”.", code="taken") from None


def contact_group_rename(*, group: ContactGroup, name: str) -> ContactGroup:
    value = _group_name(group.company, name, exclude=group)
    try:
        with transaction.atomic():
            ContactGroup.objects.filter(pk=group.pk).update(name=value)
    except IntegrityError:
        raise ValidationError(f"You already have a group named “{value}”.", code="taken") from None
    group.name = value
    return group


def contact_group_delete(*, group: ContactGroup) -> None:
    group.delete()  # members cascade


def parse_member_numbers(raw: str) -> list[str]:
    """Pasted numbers (one per line or comma-separated) → msisdns, by the API's own parser
    (messaging.api.parse_mobiles: 10-digit numbers take India's 91, like the API's default
    country). Every invalid entry is named in the error."""
    valid, invalid = parse_mobiles((raw or "").replace("\r", "").replace("\n", ","), None)
    if invalid:
        shown = ", ".join(f"“{item}”" for item in invalid[:10])
        more = f" and {len(invalid) - 10} more" if len(invalid) > 10 else ""
        raise ValidationError(
            f"Not mobile numbers: {shown}{more}. Write each with its country code (e.g. 919876543210) "
            "or as 10 digits for India.",
            code="invalid",
        )
    if not valid:
        raise ValidationError("Enter at least one mobile number.", code="required")
    return valid


def group_members_add(*, group: ContactGroup, numbers: str) -> int:
    """Adds the pasted numbers not already in the group; returns how many were added. Refused as a
    whole when the group would exceed SMS_GROUP_MAX_MEMBERS."""
    msisdns = parse_member_numbers(numbers)
    limit = settings.SMS_GROUP_MAX_MEMBERS
    with transaction.atomic():
        # One writer per group at a time, so two pastes cannot both pass the bound.
        ContactGroup.objects.select_for_update().filter(pk=group.pk).first()
        present = set(
            GroupMember.objects.filter(group=group, msisdn__in=msisdns).values_list("msisdn", flat=True)
        )
        new = [msisdn for msisdn in msisdns if msisdn not in present]
        count = GroupMember.objects.filter(group=group).count()
        if count + len(new) > limit:
            raise ValidationError(
                f"A group holds at most {limit} numbers: “{group.name}” has {count}, "
                f"and {len(new)} of these are new.",
                code="too_many",
            )
        GroupMember.objects.bulk_create(
            [GroupMember(group=group, msisdn=msisdn) for msisdn in new], ignore_conflicts=True
        )
    return len(new)


def group_member_remove(*, member: GroupMember) -> None:
    member.delete()


def flow_save(
    *, company: Company, name: str, template: str, sender: str, route: str, flow: Flow | None = None
) -> Flow:
    """Creates a flow, or edits one that is not approved; either way it then waits for staff
    approval in the admin (pending). An approved flow cannot be edited here."""
    if flow is not None:
        if flow.company_id != company.pk:
            raise ValidationError("That flow belongs to another company.", code="foreign")
        if flow.status == Flow.Status.APPROVED:
            raise ValidationError(APPROVED_FLOW_FROZEN, code="approved")
    if route not in FLOW_ROUTES:
        raise ValidationError("Choose route 4 (transactional) or 1 (promotional).", code="route")
    fields = {
        "name": name.strip(),
        "template": template.strip(),
        "sender": normalise_sender(sender) if sender.strip() else "",
        "route": route,
        "status": Flow.Status.PENDING,
    }
    if not fields["name"] or not fields["template"]:
        raise ValidationError("A flow needs a name and a template text.", code="required")
    if flow is None:
        return Flow.objects.create(company=company, **fields)
    # Conditional: approval by staff in between wins (nothing is changed then).
    changed = Flow.objects.filter(pk=flow.pk).exclude(status=Flow.Status.APPROVED).update(**fields)
    if not changed:
        raise ValidationError(APPROVED_FLOW_FROZEN, code="approved")
    flow.refresh_from_db()
    return flow
