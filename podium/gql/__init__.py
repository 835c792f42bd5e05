"""Strawberry types shared by the regional and the global GraphQL schemas (one concept a module)."""
