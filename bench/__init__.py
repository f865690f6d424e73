"""`make bench`: figures about the service (cold start, DynamoDB calls, throughput, latency), never pass/fail."""
