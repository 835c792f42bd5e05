"""The region's HTTP surface: GraphQL (Strawberry on Starlette) and the signed score endpoint."""
