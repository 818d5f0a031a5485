"""Settings for the API hot-path bench (bench/api.sh): production settings from the environment,
plus the bench-only reference endpoints of bench/urls.py. Never used by the product."""

import os

from portal.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

# messaging/refusals.py reads these from settings (defaults 100 and 1.0); the environment may
# override them here to compare (FAILED_REQUEST_BATCH_SIZE=1: one synchronous write per refusal).
FAILED_REQUEST_BATCH_SIZE = int(os.environ.get("FAILED_REQUEST_BATCH_SIZE", "100"))
FAILED_REQUEST_FLUSH_SECONDS = float(os.environ.get("FAILED_REQUEST_FLUSH_SECONDS", "1.0"))
FAILED_REQUEST_BUFFER_MAX = int(os.environ.get("FAILED_REQUEST_BUFFER_MAX", "10000"))
