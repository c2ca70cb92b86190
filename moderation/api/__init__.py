"""The HTTP layer: thin views over the store and the task queue."""
