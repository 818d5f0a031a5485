"""Company-level changes made in accounts reach the audit log and the key cache here."""

from typing import Any

from django.dispatch import receiver

from accounts.services import company_security_changed
from authkeys import auth
from authkeys.models import SecurityEvent
from authkeys.services import record_event


@receiver(company_security_changed)
def on_company_security_changed(
    sender: Any, *, company, actor, kind, before, after, ip, **kwargs: Any
) -> None:  # type: ignore[no-untyped-def]
    if kind == "status":
        event_kind = SecurityEvent.Kind.COMPANY_STATUS_CHANGED
        target = "Company status"
        auth.invalidate_company(company.pk)
    elif kind == "balance":
        return
    else:
        event_kind = SecurityEvent.Kind.CONTACT_CHANGED
        target = f"Registered {kind}"
    record_event(
        company=company,
        kind=event_kind,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_ip=ip,
        target=target,
        before={kind: before},
        after={kind: after},
    )
