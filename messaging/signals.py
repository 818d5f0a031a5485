"""Signals the messaging app sends for higher apps to react to (they connect receivers; messaging
never imports them)."""

from django.dispatch import Signal

# --- refusals_recorded (alerts) -----------------------------------------------------------------
# Sent by messaging.refusals.flush() after a batch of Failed Logs rows was written (committed,
# unless the caller of a synchronous flush holds an outer transaction). Argument: `rows`, the
# saved FailedRequest instances of the batch. Sent with send_robust: a receiver's exception is
# logged by Django and never reaches the flush. Receivers must be cheap: one call per flush.
refusals_recorded = Signal()
