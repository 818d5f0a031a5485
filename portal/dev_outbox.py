"""A JSON-lines file of the SMS and email the portal sent in development.

Web and worker processes both append to it, and the dev-only /dev/outbox/ page reads it, so a
developer can find OTP codes and password-reset links without a real gateway.
"""

import fcntl
import json
from collections import deque
from typing import Any

from django.conf import settings
from django.utils import timezone

_KEEP = 200


def append(*, channel: str, to: str, subject: str, body: str) -> None:
    path = settings.DEV_OUTBOX_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(
        {
            "at": timezone.now().isoformat(),
            "channel": channel,
            "to": to,
            "subject": subject,
            "body": body,
        }
    )
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(line + "\n")


def recent(limit: int = 50) -> list[dict[str, Any]]:
    path = settings.DEV_OUTBOX_PATH
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as handle:
        lines = deque(handle, maxlen=min(limit, _KEEP))
    entries = []
    for line in reversed(lines):
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return entries
