"""Signals messaging sends for higher apps (webhooks, alerts) to react to: they connect receivers;
messaging never imports them."""

from django.dispatch import Signal

# --- recipient_statuses_changed (webhooks) ------------------------------------------------------
# Sent inside the transaction that changed the delivery status of some recipients of one message.
# Arguments: `message_id` (int) and `changed_at` (datetime): the changed recipients are exactly
# those of that message whose `status_at` equals `changed_at` (every status change writes
# status_at). Receivers must stay cheap and must not commit or call the network.
recipient_statuses_changed = Signal()

# --- refusals_recorded (alerts) -----------------------------------------------------------------
# Sent by messaging.refusals.flush() after a batch of Failed Logs rows was written (committed,
# unless the caller of a synchronous flush holds an outer transaction). Argument: `rows`, the
# batch as messaging.refusals.RefusalRow tuples (the FailedRequest fields, no primary key). Sent
# with send_robust: a receiver's exception is logged by Django and never reaches the flush.
# Receivers must be cheap: one call per flush.
refusals_recorded = Signal()
