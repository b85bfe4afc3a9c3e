"""Complaints: rules and service-task handlers of the complaints processes."""
