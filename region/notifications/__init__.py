"""Notifications: rules evaluated on board changes, a durable outbox, player inboxes and signed webhooks."""
