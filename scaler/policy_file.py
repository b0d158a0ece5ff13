"""Tuned policy files: a versioned YAML document the tuner writes and the scaler loads.

The scaler validates a policy file with the same ``PolicySpec`` schema the
simulator and tuner use, so a file that loads here replays identically there.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scaler.policy import PolicySpec
from scaler.tenant_patterns import tenant_pattern
from scaler.validation import first_error

API_VERSION = "gpuscale.dev/v1"
#: A policy's name is its file's stem in the policy directory: no path, nothing hidden.
POLICY_NAME_PATTERN = r"[a-z0-9]([-a-z0-9_.]*[a-z0-9])?"
#: Compiled for tenant input (a trigger's ``policy`` key): RE2, see ``scaler.tenant_patterns``.
POLICY_NAME = tenant_pattern(POLICY_NAME_PATTERN)
POLICY_NAME_RULE = "lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit"


class PolicyFileError(ValueError):
    """A policy file is missing or malformed; the message names the file and the field."""


class PolicyFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    apiVersion: Literal["gpuscale.dev/v1"] = "gpuscale.dev/v1"
    kind: Literal["Policy"] = "Policy"
    name: str = Field(pattern=f"^{POLICY_NAME_PATTERN}$")
    policy: PolicySpec
    tuned_for: dict[str, Any] = Field(default_factory=dict, description="traces, SLO and search settings")
    scores: dict[str, Any] = Field(default_factory=dict, description="what the tuner measured")


def load_policy_file(path: Path) -> PolicyFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyFileError(f"cannot read policy file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise PolicyFileError(f"policy file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyFileError(f"policy file {path}: top level must be a mapping")
    try:
        return PolicyFile.model_validate(data)
    except ValidationError as exc:
        loc, message, got = first_error(exc)
        raise PolicyFileError(f"policy file {path}: field '{loc}': {message} (got {got})") from None


def dump_policy_file(policy: PolicyFile) -> str:
    return yaml.safe_dump(policy.model_dump(mode="json"), sort_keys=False)


class PolicyStore:
    """Policies by name from one directory, reloaded when a file changes."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._cache: dict[str, tuple[float, PolicyFile]] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        if self.directory is None or not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.yaml"))

    def get(self, name: str) -> PolicyFile:
        if self.directory is None:
            raise PolicyFileError("no policy directory is configured on the scaler (--policy-dir)")
        if not POLICY_NAME.fullmatch(name):
            raise PolicyFileError(f"{name!r} is not a policy name; allowed: {POLICY_NAME_RULE}")
        path = self.directory / f"{name}.yaml"
        try:
            mtime = path.stat().st_mtime
        except OSError:
            raise PolicyFileError(f"no policy named {name!r}; available: {', '.join(self.names()) or 'none'}") from None
        with self._lock:
            cached = self._cache.get(name)
            if cached is not None and cached[0] == mtime:
                return cached[1]
        loaded = load_policy_file(path)
        with self._lock:
            self._cache[name] = (mtime, loaded)
        return loaded
