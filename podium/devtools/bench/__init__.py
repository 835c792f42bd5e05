"""`podium bench`: Podium's figures next to baselines measured in the same run."""
