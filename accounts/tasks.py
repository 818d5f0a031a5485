from smtplib import SMTPException

from celery import shared_task

from accounts import services
from portal.sms.backends.base import SmsDeliveryError


@shared_task(
    autoretry_for=(SmsDeliveryError, SMTPException, ConnectionError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=6,
)
def notify_old_contact(change_id: int) -> bool:
    return services.contact_change_notify_old(change_id=change_id)
