"""Settings for the API hot-path bench (bench/api.sh): production settings from the environment,
plus the bench-only reference endpoints of bench/urls.py. Never used by the product."""

from portal.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

# FAILED_REQUEST_BATCH_SIZE, FAILED_REQUEST_FLUSH_SECONDS and FAILED_REQUEST_BUFFER_MAX come from
# the environment through portal/settings/base.py (FAILED_REQUEST_BATCH_SIZE=1: one synchronous
# write per refusal, to compare).
