"""The simulated serving fleet: pods under continuous batching, their monitoring, the HPA path, one replay."""
