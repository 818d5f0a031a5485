"""Writes of the SMS section's pages. The API's own writes live in messaging.api (the pipeline)."""

from datetime import datetime

from django.core.exceptions import ValidationError

from accounts.models import Company, User
from authkeys import services as authkey_services
from authkeys.models import AuthKey, CompanyAllowedIP, KeyAllowedIP
from messaging.catalogue import Code
from messaging.models import FailedRequest
from portal.retention import delete_in_batches


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
