"""The server config's rate window: one number of seconds, written as PromQL writes it or as seconds."""

from __future__ import annotations

from typing import Any

import pytest

from scaler.config import ConfigError, load_config, promql_duration


@pytest.mark.parametrize(
    ("case", "given", "seconds", "promql"),
    [
        ("the shipped form", "1m", 60.0, "60s"),
        ("seconds as a duration", "30s", 30.0, "30s"),
        ("an hour, the longest", "1h", 3600.0, "3600s"),
        ("a number from YAML", 45, 45.0, "45s"),
        ("a number in a string (an environment variable)", "90", 90.0, "90s"),
    ],
)
def test_rate_window_is_seconds_whatever_form_it_is_written_in(
    case: str, given: Any, seconds: float, promql: str
) -> None:
    config = load_config(None, {"rate_window": given})
    assert (config.rate_window, promql_duration(config.rate_window)) == (seconds, promql), case


ALLOWED = "allowed: a whole number of seconds, or of s, m or h (30s, 1m, 1h)"


@pytest.mark.parametrize(
    ("case", "given", "message"),
    [
        ("a day unit", "1d", f"rate_window: {ALLOWED} (got '1d')"),
        ("a fraction of a second", 1.5, f"rate_window: {ALLOWED} (got 1.5)"),
        ("zero", "0s", "rate_window: Input should be greater than or equal to 1 (got 0.0)"),
        ("longer than an hour", "61m", "rate_window: Input should be less than or equal to 3600 (got 3660.0)"),
    ],
)
def test_a_bad_rate_window_names_the_key_the_value_and_what_is_allowed(case: str, given: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, {"rate_window": given})
    assert str(caught.value) == f"invalid server config: {message}", case
