"""Strawberry extensions of the regional API, one per file."""
