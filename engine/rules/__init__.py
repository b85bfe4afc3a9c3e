"""Pure bank rules with explicit dates: business calendar, deadlines (no I/O, no clock)."""
