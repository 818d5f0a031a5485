"""Short numeric one-time codes, stored only as a keyed digest and consumable once."""

import secrets
from datetime import timedelta

from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac

CODE_LENGTH = 6


def new_code(length: int = CODE_LENGTH) -> str:
    return f"{secrets.randbelow(10**length):0{length}d}"


def looks_like_code(value: str, length: int = CODE_LENGTH) -> bool:
    return len(value) == length and value.isascii() and value.isdigit()


class HashedCodeMixin(models.Model):
    """Holds at most one outstanding code per row, as an HMAC digest (never the code)."""

    token_digest = models.CharField(max_length=64, blank=True, default="", editable=False)
    valid_until = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        abstract = True

    def _code_digest(self, code: str) -> str:
        return salted_hmac(
            "accounts.codes", f"{self._meta.label_lower}:{self.pk}:{code}", algorithm="sha256"
        ).hexdigest()

    def issue_code(self, *, valid_secs: int, code: str | None = None) -> str:
        """Store a fresh code's digest (replacing any earlier code) and return the code once.
        `code`: one chosen by the caller (e.g. the API's sendotp `otp`), else a random one."""
        code = code or new_code()
        self.token_digest = self._code_digest(code)
        self.valid_until = timezone.now() + timedelta(seconds=valid_secs)
        self.save(update_fields=["token_digest", "valid_until"])
        return code

    @property
    def has_live_code(self) -> bool:
        return bool(self.token_digest) and timezone.now() < self.valid_until

    @property
    def has_expired_code(self) -> bool:
        return bool(self.token_digest) and timezone.now() >= self.valid_until

    def consume_code(self, code: str) -> bool:
        """True once for the right, unexpired code; the conditional UPDATE makes a race of two
        verifications of the same code succeed exactly once."""
        if not looks_like_code(code):
            return False
        now = timezone.now()
        used = (
            type(self)
            ._default_manager.filter(pk=self.pk, token_digest=self._code_digest(code), valid_until__gt=now)
            .update(token_digest="", valid_until=now)
        )
        if used:
            self.token_digest = ""
            self.valid_until = now
        return used == 1
