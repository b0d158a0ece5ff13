"""Traffic traces: per-request traces and aggregated rate series, loaded by format name."""

from simulations.traces.base import RateSeries, RequestTrace, TraceError
from simulations.traces.loaders import LOADERS, detect_format, is_rate_series, load_trace

__all__ = ["LOADERS", "RateSeries", "RequestTrace", "TraceError", "detect_format", "is_rate_series", "load_trace"]
