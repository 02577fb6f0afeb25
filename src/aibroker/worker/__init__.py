"""The worker process: consumes the queue and runs the reply use cases."""
