"""Signals messaging sends for higher apps (webhooks) to react to.

recipient_statuses_changed: sent inside the transaction that changed the delivery status of some
recipients of one message. Arguments: `message_id` (int) and `changed_at` (datetime): the changed
recipients are exactly those of that message whose `status_at` equals `changed_at` (every status
change writes status_at). Receivers must stay cheap and must not commit or call the network.
"""

from django.dispatch import Signal

recipient_statuses_changed = Signal()
