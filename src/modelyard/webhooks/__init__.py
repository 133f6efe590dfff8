"""Webhooks: signed JSON deliveries of platform events to URLs users configure (docs/webhooks.md)."""
