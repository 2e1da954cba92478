"""Writes of incidents: IT outages (`outages`), project incidents (`incidents`) and status
subscriptions (`subscriptions`: subscribing, confirming, unsubscribing, telling subscribers)."""
