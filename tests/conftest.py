import pytest

from portal.sms.backends import locmem


@pytest.fixture(autouse=True)
def sms_outbox():
    """The in-memory SMS outbox, emptied for every test (like django.core.mail.outbox)."""
    locmem.outbox.clear()
    yield locmem.outbox
    locmem.outbox.clear()


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()
