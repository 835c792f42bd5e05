"""Sub-commands of the `podium` CLI, one module each (see `podium.cli`)."""
