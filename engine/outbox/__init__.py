"""The outbox: messages queued in the same transaction as the step that wants them, sent after commit."""
