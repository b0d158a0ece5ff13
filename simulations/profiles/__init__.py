"""Replica profiles: what one serving replica can do, as data files with their sources.

A profile is a YAML file validated by :class:`ReplicaProfile`. The shipped ones live
next to this module and are found by name; a path to a user's file works too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scaler.validation import first_error

_HERE = Path(__file__).parent
_Z90 = 1.2815515655446004  # standard normal quantile at 0.9


class LogNormalStage(BaseModel):
    """One stage of a cold start, given by its median and 90th percentile (seconds)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    median_s: float = Field(gt=0, le=7200)
    p90_s: float = Field(gt=0, le=7200)

    @model_validator(mode="after")
    def _ordered(self) -> LogNormalStage:
        if self.p90_s < self.median_s:
            raise ValueError(f"p90_s ({self.p90_s}) must not be below median_s ({self.median_s})")
        return self

    @property
    def sigma(self) -> float:
        return math.log(self.p90_s / self.median_s) / _Z90


class ColdStart(BaseModel):
    """Pod created -> Ready: scheduling, image pull and model load, each log-normal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scheduling: LogNormalStage
    image_pull: LogNormalStage
    model_load: LogNormalStage

    def _draw(self, rng: np.random.Generator, size: int | None = None) -> list[Any]:
        """One log-normal draw (or ``size`` of them) per stage, in the order a pod goes through them."""
        return [
            rng.lognormal(math.log(s.median_s), s.sigma, size)
            for s in (self.scheduling, self.image_pull, self.model_load)
        ]

    def sample(self, rng: np.random.Generator) -> tuple[float, float]:
        """(scheduling seconds, total seconds to Ready) for one pod."""
        draws = [float(d) for d in self._draw(rng)]
        return draws[0], sum(draws)

    def quantile(self, q: float, draws: int = 4096) -> float:
        """The ``q`` quantile of the total time to Ready (a sum of log-normals has no closed form:
        estimated from ``draws`` samples with a fixed seed, so the same profile gives the same value)."""
        total = np.sum(self._draw(np.random.default_rng(0), draws), axis=0)
        return float(np.quantile(total, q))

    @property
    def typical_s(self) -> float:
        """The stages' medians added up: the cold start the oracle plans its keep-alive with."""
        return self.scheduling.median_s + self.image_pull.median_s + self.model_load.median_s

    @classmethod
    def fixed(cls, seconds: float) -> ColdStart:
        """A deterministic cold start (for tests and what-if runs)."""
        tiny = LogNormalStage(median_s=1e-6, p90_s=1e-6)
        return cls(scheduling=tiny, image_pull=tiny, model_load=LogNormalStage(median_s=seconds, p90_s=seconds))


class ReplicaProfile(BaseModel):
    """Serving capacity of one replica under continuous batching.

    A step of the engine takes ``decode_step_base_s + decode_step_per_seq_s * batch +
    decode_step_per_kv_token_s * kv_tokens + prefill_tokens * prefill_s_per_token(prompt)``;
    every running sequence gains one token per step. Decode reads the whole KV cache every step, so
    a step with long contexts is slower than one with short ones; prefill's causal attention costs
    ``prefill_attention_s_per_token2 * prompt**2`` for the whole prompt, on top of its linear cost.
    Both terms default to 0 (the simpler model, where context and prompt length do not matter).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    gpus_per_replica: int = Field(1, ge=1, le=64)
    gpu: str = "unknown"
    prefill_tokens_per_s: float = Field(gt=0, le=1e8)
    decode_step_base_s: float = Field(gt=0, le=10)
    decode_step_per_seq_s: float = Field(ge=0, le=10)
    decode_step_per_kv_token_s: float = Field(0.0, ge=0, le=1e-3)
    prefill_attention_s_per_token2: float = Field(0.0, ge=0, le=1e-3)
    kv_capacity_tokens: int = Field(gt=0, le=10**10)
    max_num_seqs: int = Field(ge=1, le=100_000)
    max_batched_tokens: int = Field(8192, ge=16, le=10**7)
    cold_start: ColdStart

    def prefill_s_per_token(self, prompt_tokens: float) -> float:
        """Seconds per prompt token for a prompt of ``prompt_tokens`` (its mean over the whole prompt)."""
        return 1.0 / self.prefill_tokens_per_s + self.prefill_attention_s_per_token2 * prompt_tokens

    def decode_step_s(self, batch: float, kv_tokens: float) -> float:
        """One decode step of ``batch`` sequences holding ``kv_tokens`` in the KV cache."""
        per_seq = self.decode_step_per_seq_s * batch
        return self.decode_step_base_s + per_seq + self.decode_step_per_kv_token_s * kv_tokens

    def decode_tps(self, batch: float, context_tokens: float = 0.0) -> float:
        """Generated tokens/s at a steady batch of ``batch`` sequences of ``context_tokens`` each (no prefill)."""
        return batch / self.decode_step_s(batch, batch * context_tokens)

    def capacity_for(self, demand: TokenDemand) -> TokenCapacity:
        """What one replica sustains at this token mix: prompt tokens/s, prefilling these prompts alone,
        and generated tokens/s at the fullest batch of these contexts that fits the KV cache."""
        prompt_tps = self.prefill_tokens_per_s  # exactly the profile's rate where prompt length costs nothing
        if self.prefill_attention_s_per_token2 and demand.prompt_tps > 0:
            # the token-weighted mean prompt length: each token pays the attention of the prompt it is in
            prompt_tps = 1.0 / self.prefill_s_per_token(demand.prompt_sq_tps / demand.prompt_tps)
        context = float(demand.mean_context)
        return TokenCapacity(prompt_tps, self.decode_tps(float(self.full_batch(context)), context))

    def full_batch(self, context_tokens: Any) -> Any:
        """The largest batch that fits: ``max_num_seqs``, or fewer when contexts this long fill the KV cache."""
        room = self.kv_capacity_tokens / np.maximum(context_tokens, 1.0)
        return np.clip(room, 1.0, self.max_num_seqs)

    def load_units(self, demand: TokenDemand) -> Any:
        """Demand in replicas at full use: prefill time plus decode time at the fullest batch that fits.

        Decode pays the step's fixed cost shared by a full batch, its per-sequence cost, and the KV
        reads of every context token in every step; a batch is cut short when its contexts fill the
        KV cache. Prefill pays its linear rate and the prompts' attention.
        """
        attention = self.prefill_attention_s_per_token2 * demand.prompt_sq_tps
        prefill = demand.prompt_tps / self.prefill_tokens_per_s + attention
        context = demand.mean_context
        return prefill + demand.output_tps / self.decode_tps(self.full_batch(context), context)


@dataclass(frozen=True)
class TokenDemand:
    """Work arriving per second (scalars or arrays of bins): what a profile turns into replicas.

    ``prompt_sq_tps`` sums each prompt's squared length (its attention); ``context_tps`` sums, over
    the output tokens, the context each is decoded with (prompt plus half the output, on average).
    """

    prompt_tps: Any
    output_tps: Any
    prompt_sq_tps: Any = 0.0
    context_tps: Any = 0.0

    @property
    def mean_context(self) -> Any:
        """Context tokens an output token is decoded with, on average (0 where nothing is generated)."""
        return np.where(self.output_tps > 0, self.context_tps / np.maximum(self.output_tps, 1e-12), 0.0)

    @classmethod
    def binned(cls, prompt: Any, output: Any, index: Any, bins: int, bin_s: float) -> TokenDemand:
        """Per-bin demand (arrays of ``bins``) of requests with these lengths, request ``i`` in bin ``index[i]``."""
        return cls(*(np.bincount(index, weights=w, minlength=bins) / bin_s for w in _per_request(prompt, output)))

    @classmethod
    def of_requests(cls, prompt: Any, output: Any, seconds: float) -> TokenDemand:
        """The demand of requests with these prompt and output lengths arriving over ``seconds``."""
        return cls(*(float(w.sum()) / seconds for w in _per_request(prompt, output)))


def _per_request(prompt: Any, output: Any) -> tuple[Any, Any, Any, Any]:
    """Each request's share of a ``TokenDemand``'s four sums, in its field order."""
    prompt = np.asarray(prompt, dtype=np.float64)
    output = np.asarray(output, dtype=np.float64)
    return prompt, output, prompt**2, output * (prompt + output / 2.0)


@dataclass(frozen=True)
class TokenCapacity:
    """Tokens per second one replica sustains at full use, for one mix of prompt and output lengths."""

    prompt_tps: float
    decode_tps: float


class ProfileError(ValueError):
    """A profile name or file that cannot be used; the message says which and why."""


def shipped_profiles() -> list[str]:
    return sorted(p.stem for p in _HERE.glob("*.yaml"))


def load_profile(name_or_path: str | Path) -> ReplicaProfile:
    """A shipped profile by name, or a profile YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix and not path.is_file():
        path = _HERE / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ProfileError(
                f"unknown profile {str(name_or_path)!r}; allowed: a profile YAML file, or a shipped profile: "
                + ", ".join(shipped_profiles())
            )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
    try:
        return ReplicaProfile.model_validate(data)
    except ValidationError as exc:
        where, message, got = first_error(exc)
        raise ProfileError(f"{path}: {where or '(top level)'}: {message} (got {got})") from None
