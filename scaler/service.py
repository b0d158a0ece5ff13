"""The KEDA ExternalScaler gRPC service: O(1) reads of the latest decision.

Contract (keda-contract.md §7): one metric per trigger, lower-case name, target
1 in both fields, the value is the recommended replica count as an exact
integer in both fields, and at least one value always. ``GetMetricSpec`` is a
pure function of the metadata. A workload first seen at ``GetMetrics`` gets
one bounded collection before the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from scaler.collection import DecisionEngine
from scaler.collector import Clock
from scaler.config import ServerConfig
from scaler.decision import Decision
from scaler.metadata import (
    MetadataError,
    TriggerMetadata,
    parse_trigger_metadata,
    prometheus_url_for,
    resolve_policy,
)
from scaler.policy import PolicySpec
from scaler.policy_file import PolicyFileError, PolicyStore
from scaler.rpc import externalscaler_pb2 as pb
from scaler.rpc import externalscaler_pb2_grpc as pb_grpc
from scaler.telemetry import RpcTelemetry
from scaler.workloads import Registry, Workload, WorkloadKey, valid_namespace

log = logging.getLogger(__name__)
T = TypeVar("T")


class InvalidRequestError(ValueError):
    pass


class WorkloadLimitError(RuntimeError):
    """A new workload beyond ``max_workloads``: refused, so memory stays within the pod's limit."""


@dataclass(frozen=True)
class ParsedTrigger:
    """A trigger as the scaler will serve it: its metadata, effective policy and allow-listed Prometheus."""

    meta: TriggerMetadata
    spec: PolicySpec
    prometheus_url: str


@functools.lru_cache(maxsize=4096)
def _parse_metadata(items: tuple[tuple[str, str], ...]) -> TriggerMetadata:
    """Trigger metadata is a pure function of the map KEDA sends on every call: parse each map once.

    Rejections are not cached (exceptions are not memoised), so they are re-checked each time.
    """
    return parse_trigger_metadata(dict(items))


def _observed(method: str) -> Callable[[Callable[..., Awaitable[T]]], Callable[..., Awaitable[T]]]:
    """Record latency and status code of a unary handler."""

    def wrap(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        @functools.wraps(fn)
        async def inner(self: ScalerService, request: Any, context: Any) -> T:
            start = time.perf_counter()
            code: grpc.StatusCode | None = None
            try:
                return await fn(self, request, context)
            except asyncio.CancelledError:  # the client went away or the server stops: not an OK answer
                code = grpc.StatusCode.CANCELLED
                raise
            finally:
                code = code or context.code() or grpc.StatusCode.OK
                self.telemetry.observe_rpc(method, code.name, time.perf_counter() - start)

        return inner

    return wrap


class ScalerService(pb_grpc.ExternalScalerServicer):
    def __init__(
        self,
        registry: Registry,
        engine: DecisionEngine,
        config: ServerConfig,
        telemetry: RpcTelemetry,
        clock: Clock,
        stopping: asyncio.Event,
    ) -> None:
        self.registry = registry
        self.engine = engine
        self.config = config
        self.telemetry = telemetry
        self.clock = clock
        self.stopping = stopping
        self.policies = PolicyStore(config.policy_dir)
        self._first: dict[WorkloadKey, asyncio.Future[Any]] = {}

    # --- parsing -----------------------------------------------------------------
    def _parse(self, ref: pb.ScaledObjectRef) -> ParsedTrigger:
        if not ref.name:
            raise InvalidRequestError("scaledObjectRef.name is empty; KEDA always sends the ScaledObject's name")
        if not valid_namespace(ref.namespace):
            raise InvalidRequestError(f"scaledObjectRef.namespace {ref.namespace!r} is not a Kubernetes namespace name")
        meta = _parse_metadata(tuple(sorted(ref.scalerMetadata.items())))
        base = self.config.default_policy
        if meta.policy is not None:
            try:
                base = self.policies.get(meta.policy).policy
            except PolicyFileError as exc:
                raise MetadataError("policy", meta.policy, str(exc)) from None
        spec = resolve_policy(meta, base, f"policy {meta.policy!r}" if meta.policy else "the default policy")
        return ParsedTrigger(meta, spec, prometheus_url_for(meta, self.config))

    async def _parse_or_abort(self, ref: pb.ScaledObjectRef, context: Any) -> ParsedTrigger:
        try:
            return self._parse(ref)
        except (MetadataError, InvalidRequestError) as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise  # unreachable: abort raises

    # --- workloads -----------------------------------------------------------------
    def _register(self, ref: pb.ScaledObjectRef, trigger: ParsedTrigger) -> Workload:
        now = self.clock()
        meta, spec = trigger.meta, trigger.spec
        key = WorkloadKey(ref.namespace, ref.name, meta.metric_name)
        existing = self.registry.get(key)
        if (
            existing is not None
            and existing.meta == meta
            and existing.spec == spec
            and existing.prometheus_url == trigger.prometheus_url
        ):
            existing.last_seen_at = now
            return existing
        if existing is not None:
            log.info("trigger metadata of %s changed: starting its history again", key)
            self.engine.remove(key)  # first: a collector sharing this registry marks the workload forgotten
            self.registry.remove(key)
        if existing is None and len(self.registry) >= self.config.max_workloads:
            raise WorkloadLimitError(
                f"{key}: the scaler already collects {len(self.registry)} workloads, its limit (max_workloads"
                f" {self.config.max_workloads}); this one is not collected until another expires or the limit is raised"
            )
        workload = Workload(
            key=key,
            meta=meta,
            spec=spec,
            prometheus_url=trigger.prometheus_url,
            created_at=now,
            last_seen_at=now,
        )
        registered = self.registry.add(workload)
        if registered is workload:
            self.engine.upsert(workload)
            self.telemetry.workloads.set(len(self.registry))
        return registered

    def expire(self) -> int:
        """Forget workloads no RPC has asked about for ``workload_ttl_s``; return how many."""
        now = self.clock()
        stale = [w for w in self.registry.all() if now - w.last_seen_at > self.config.workload_ttl_s]
        for w in stale:
            self.engine.remove(w.key)  # first: a collector sharing this registry marks the workload forgotten
            self.registry.remove(w.key)
            log.info("forgot workload %s: no RPC for %.0fs", w.key, now - w.last_seen_at)
        self.telemetry.workloads.set(len(self.registry))
        return len(stale)

    async def _decision(self, workload: Workload, context: Any) -> Decision:
        """The latest decision; for a new workload, one collection within the answer budget."""
        if workload.latest is not None:
            return workload.latest
        future = self._first.get(workload.key)
        if future is None:
            future = asyncio.ensure_future(self.engine.refresh_now(workload))
            self._first[workload.key] = future
            key = workload.key

            def forget(_: asyncio.Future[Any]) -> None:
                self._first.pop(key, None)

            future.add_done_callback(forget)
        budget = self.config.first_answer_timeout_s
        remaining = context.time_remaining()
        if remaining is not None:
            budget = min(budget, max(0.0, remaining - 0.1))
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout=budget)
        except TimeoutError:
            pass
        except Exception as exc:
            log.warning("first collection for %s failed: %s", workload.key, exc)
        if workload.latest is None:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"no decision yet for {workload.key}: first collection did not finish within {budget:.2f}s",
            )
        assert workload.latest is not None
        return workload.latest

    async def _valid_decision(
        self, request_ref: pb.ScaledObjectRef, trigger: ParsedTrigger, context: Any
    ) -> tuple[Workload, Decision]:
        try:
            workload = self._register(request_ref, trigger)
        except WorkloadLimitError as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
            raise  # unreachable: abort raises
        decision = await self._decision(workload, context)
        if not decision.valid:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{workload.key}: {decision.message}")
        age = self.clock() - decision.at
        if age > self.config.decision_max_age_s:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"{workload.key}: the latest decision is {age:.0f}s old: collection has stopped",
            )
        return workload, decision

    # --- RPCs ------------------------------------------------------------------------
    @_observed("GetMetricSpec")
    async def GetMetricSpec(self, request: pb.ScaledObjectRef, context: Any) -> pb.GetMetricSpecResponse:
        meta = (await self._parse_or_abort(request, context)).meta
        spec = pb.MetricSpec(metricName=meta.metric_name, targetSize=1, targetSizeFloat=1.0)
        return pb.GetMetricSpecResponse(metricSpecs=[spec])

    @_observed("GetMetrics")
    async def GetMetrics(self, request: pb.GetMetricsRequest, context: Any) -> pb.GetMetricsResponse:
        trigger = await self._parse_or_abort(request.scaledObjectRef, context)
        meta = trigger.meta
        if request.metricName and request.metricName.lower() != meta.metric_name:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"metricName {request.metricName!r} is not served for this trigger; allowed: {meta.metric_name!r}",
            )
        _, decision = await self._valid_decision(request.scaledObjectRef, trigger, context)
        replicas = int(decision.replicas or 0)
        value = pb.MetricValue(
            metricName=request.metricName or meta.metric_name, metricValue=replicas, metricValueFloat=float(replicas)
        )
        return pb.GetMetricsResponse(metricValues=[value])

    @_observed("IsActive")
    async def IsActive(self, request: pb.ScaledObjectRef, context: Any) -> pb.IsActiveResponse:
        trigger = await self._parse_or_abort(request, context)
        _, decision = await self._valid_decision(request, trigger, context)
        return pb.IsActiveResponse(result=decision.active)

    async def StreamIsActive(self, request: pb.ScaledObjectRef, context: Any) -> AsyncIterator[pb.IsActiveResponse]:
        """Push ``true`` as soon as the workload becomes active; end with OK on shutdown."""
        start = time.perf_counter()
        code = "OK"
        try:
            try:
                trigger = self._parse(request)
            except (MetadataError, InvalidRequestError) as exc:
                code = "INVALID_ARGUMENT"
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
                return
            try:
                workload = self._register(request, trigger)
            except WorkloadLimitError as exc:
                code = "RESOURCE_EXHAUSTED"
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
                return
            last_sent: bool | None = None
            while not self.stopping.is_set():
                workload.last_seen_at = self.clock()
                decision = workload.latest
                active = bool(decision is not None and decision.valid and decision.active)
                if last_sent is None or (active and not last_sent):
                    yield pb.IsActiveResponse(result=active)
                last_sent = active
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), timeout=self.config.stream_interval_s)
        finally:
            self.telemetry.observe_rpc("StreamIsActive", code, time.perf_counter() - start)
