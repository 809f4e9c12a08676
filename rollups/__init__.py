"""Snapshots: raw data rolled into hourly, daily and monthly buckets, and retention."""
