"""A region: signed batch ingestion, exact ranks on Redis, the GraphQL API and live subscriptions."""
