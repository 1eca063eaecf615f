"""The event path's batch analyser: consumes windows of scored transactions from Kafka, scores
each window with an ensemble model and publishes the result (the seeds' asynchronous half)."""
