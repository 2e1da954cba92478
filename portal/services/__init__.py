"""Writes of the portal: problem reports (`reports`) and status subscriptions (`subscriptions`)."""
