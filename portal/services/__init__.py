"""Writes of the portal: problem reports (`reports`). Status subscriptions are written by
`incidents.services.subscriptions`."""
