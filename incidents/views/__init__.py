"""Pages of incidents: IT outages (`outages`); project incidents, status pages and insights (`incidents`)."""
