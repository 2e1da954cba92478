"""The IT events API of incidents: outages (`outages`), project incidents and status (`incidents`)."""
