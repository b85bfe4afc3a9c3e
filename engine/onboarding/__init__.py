"""Onboarding: rules and service-task handlers of the onboarding processes."""
