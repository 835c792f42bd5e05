"""The event-log path of a region: Kafka sink, Faust app, the stream processor and its anti-cheat."""
