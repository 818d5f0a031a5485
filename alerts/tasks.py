"""Celery tasks of the alerts. Payloads are ids only (JSON); the Alert row is the source of truth
and `services.deliver_alert` claims it, so a task that runs twice sends once."""

from celery import shared_task

from alerts import services


@shared_task(bind=True, max_retries=None)
def send_alert(self, alert_id: int) -> str:  # type: ignore[no-untyped-def]
    """Deliver one alert. Retries with doubling backoff until ALERTS_MAX_ATTEMPTS attempts in all
    (counted in the row, so redelivered tasks do not extend the bound); then the row is failed."""
    delivery = services.deliver_alert(alert_id=alert_id)
    if delivery.retry_in is not None:
        raise self.retry(countdown=delivery.retry_in, max_retries=services.max_attempts())
    return delivery.outcome


@shared_task
def sweep() -> dict[str, int]:
    """Periodic (CELERY_BEAT_SCHEDULE "alerts-sweep"): digests of closed windows, lost tasks."""
    return services.sweep()


@shared_task
def check_thresholds() -> dict[str, int]:
    """Periodic (CELERY_BEAT_SCHEDULE "alerts-thresholds"): low balances and keys nearing expiry."""
    from alerts import thresholds

    return {"low_balance": thresholds.low_balance_alerts(), "key_expiring": thresholds.key_expiry_alerts()}
