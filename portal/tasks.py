from celery import shared_task

from portal import retention


@shared_task(ignore_result=True)
def purge_old_records() -> dict[str, int]:
    """Daily (CELERY_BEAT_SCHEDULE): retention of failed logs, alerts and webhook deliveries.
    Idempotent: a second run finds nothing older than the cutoff."""
    return retention.purge_old_records()
