"""The world around the scaler, emulated for demos and tests: a GPU fleet's metrics, a local Prometheus,
a KEDA-like client and the scaler embedded in-process. Never imported by the scaler itself."""
