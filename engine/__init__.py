"""CareFlow's engine: durable BPMN processes on SpiffWorkflow. See engine/README.md."""
