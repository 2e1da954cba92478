"""Writes of incidents: IT outages (`outages`) and project incidents."""
