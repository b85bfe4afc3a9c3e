"""Customer care: the daily scans that start birthday, holiday and revisit instances."""
