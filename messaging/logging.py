"""Keeping recorded API refusals out of the log.

Django logs every 4xx reply on `django.request` at WARNING. An API refusal is already recorded
with its code, key and IP (Failed Logs, messaging/refusals.py), so logging it again only lets a
flood of bad requests flood the log as well, and costs a formatted write per refused request.
`messaging.api.record_refusal` marks the request; this filter, attached to `django.request` in
LOGGING (portal/settings/base.py), drops the warning of a marked request's 4xx reply. 5xx replies
and every other 4xx (panel pages, API errors that are not refusals) are logged as before.

Imported by the logging configuration before the apps are ready: no models here.
"""

import logging

RECORDED_REFUSAL = "api_refusal_recorded"  # request attribute set by messaging.api.record_refusal


class SkipRecordedApiRefusals(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if not isinstance(status, int) or not 400 <= status < 500:
            return True
        return not getattr(getattr(record, "request", None), RECORDED_REFUSAL, False)
