"""Sales: rules and service-task handlers of the sales processes."""
