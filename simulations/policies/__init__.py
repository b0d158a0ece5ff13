"""The policies the simulator compares, the clairvoyant oracle, and how a replay is scored against an SLO."""
