"""Two scaler pods behind one ClusterIP Service, as deploy/base runs them: KEDA's gRPC connection goes to one
pod, which answers every call; when that pod dies KEDA reconnects and the Service sends the new connection to
the other pod, which has never seen the workload. It must not scale down on its empty memory: its first
decision holds the fleet as it stands (the Deployment's replicas) for the scale-down window, and KEDA never
falls back.

There is no kube-proxy here: the loopback DNS plays the Service's part, answering the first pod's address
until it dies and the second's after (``LoopbackDns.route``).
"""

from __future__ import annotations

import functools
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.conftest import Stack, serving, start_scaler
from tests.e2e.dns import LoopbackDns
from tests.e2e.fleet import PodMirror, apply_list, decisions, scaled_object_condition, workload
from tests.support.net import exposition, free_port

pytestmark = pytest.mark.e2e

SERVICE_NAME = "gpuscale.gpuscale-system.svc"
NAMESPACE = "failover"
#: gpuscale's scale-down window for this workload: what the surviving pod must hold after the failover
WINDOW_S = 90


@dataclass
class Pod:
    name: str
    host: str
    metrics_port: int
    process: subprocess.Popen[bytes]

    def decisions(self, limit: int = 1) -> list[dict[str, Any]]:
        return decisions(self.metrics_port, NAMESPACE, limit=limit, host=self.host)

    def calls(self) -> int:
        """GetMetrics calls this pod has answered (KEDA's polls and the HPA's reads), 0 once it is gone."""
        try:
            with urllib.request.urlopen(f"http://{self.host}:{self.metrics_port}/metrics", timeout=3) as resp:
                samples = exposition(resp.read().decode())
        except OSError:
            return 0
        return int(
            sum(
                v
                for (name, labels), v in samples.items()
                if name == "gpuscale_rpcs_total" and ("method", "GetMetrics") in labels
            )
        )


@pytest.fixture
def two_pods(stack: Stack) -> Iterator[tuple[list[Pod], LoopbackDns, str]]:
    """Two ``gpuscale serve`` on one port at 127.0.0.1 and 127.0.0.2, and a DNS name routed to the first."""
    port = free_port()
    pods = []
    for index, host in enumerate(("127.0.0.1", "127.0.0.2")):
        name, metrics_port = f"gpuscale-pod-{index}", free_port()
        process = start_scaler(stack.plane, stack.sources, port, metrics_port, host=host, name=name)
        stack.plane.processes[name] = process
        pods.append(Pod(name, host, metrics_port, process))
    dns = LoopbackDns(SERVICE_NAME, (pods[0].host,)).start()
    try:
        for pod in pods:
            up = functools.partial(serving, port, pod.host)
            stack.plane.wait(up, 60, f"{pod.name}'s gRPC health", pod.name)
        yield pods, dns, dns.target(SERVICE_NAME, port)
    finally:
        dns.stop()
        for pod in pods:
            if pod.process.poll() is None:
                pod.process.terminate()
                pod.process.wait(timeout=20)
            stack.plane.processes.pop(pod.name, None)


def test_the_surviving_pod_holds_the_fleet_for_its_window_after_a_failover(
    stack: Stack, two_pods: tuple[list[Pod], LoopbackDns, str]
) -> None:
    (pinned, survivor), dns, target = two_pods
    pods = [pinned, survivor]
    plane = stack.plane
    apply_list(plane, workload(NAMESPACE, target, scaleDownStabilizationSeconds=str(WINDOW_S)))
    mirror = PodMirror(plane, stack.fleet, NAMESPACE, "llama").start()
    log: list[tuple[int, str, int, str, str]] = []
    start = time.monotonic()

    def record(phase: str) -> int:
        replicas = int(plane.get_json("deployment", "llama", "-n", NAMESPACE)["spec"]["replicas"])  # type: ignore[index]
        serving_pods = ",".join(f"{p.name}:{p.calls()}" for p in pods)
        log.append((round(time.monotonic() - start), phase, replicas, serving_pods, fallback()))
        return replicas

    def fallback() -> str:
        return scaled_object_condition(plane, NAMESPACE, "Fallback")

    try:
        mirror.set_load(queue=0.0, running=8.0, generation_tps=5.5 * 4500, kv_cache_usage=0.3)
        plane.wait(lambda: record("steady") >= 6 and len(mirror.pods) >= 6, 240, "the fleet to reach 6 replicas")
        assert (pinned.calls() > 0, survivor.calls()) == (True, 0), log  # one connection, one pod
        # the load stops; the pinned pod holds the fleet for its window while its ask falls to the floor
        mirror.set_load(queue=0.0, running=0.0, generation_tps=0.0, kv_cache_usage=0.0)

        def holding() -> bool:
            record("load gone")
            latest = pinned.decisions()
            return bool(latest) and latest[-1]["reason"] == "hold_stabilization" and latest[-1]["raw_replicas"] == 1

        plane.wait(holding, 90, "the pinned pod to hold the fleet while its own ask is the floor")
        held = pinned.decisions()[-1]["replicas"]
        assert record("load gone") == held, log
        # that pod dies; KEDA reconnects and the Service sends it to the other pod, which never saw the workload
        plane.processes.pop(pinned.name)  # its death is the test, not a failure of the stack
        pinned.process.kill()
        dns.route(survivor.host)
        killed = time.monotonic()
        plane.wait(lambda: survivor.calls() > 0, 60, "KEDA to call the surviving pod")
        # longer than the HPA's own 60 s window: what holds the fleet is the survivor's recommendation
        while time.monotonic() - killed < WINDOW_S - 15:
            assert record("failed over") == held, log
            assert log[-1][4] != "True", log  # KEDA never fell back: its calls kept being answered
            time.sleep(5)
        # the survivor's window started with the fleet as it stood, not empty: from its first decision it
        # recommended the fleet while its own ask was below it (the floor, or a replica more while the band
        # it learned from the history it read still carries the ramp's errors)
        seen = [d for d in survivor.decisions(limit=100) if d["valid"]]
        assert {(d["replicas"], d["reason"]) for d in seen} == {(held, "hold_stabilization")}, seen
        assert max(d["raw_replicas"] for d in seen) < held, seen
        # after the survivor's window (and the HPA's 60 s) the fleet goes down
        plane.wait(lambda: record("window passed") < held, WINDOW_S + 120, "the scale-down after the window")
    finally:
        mirror.stop()
        print(
            "\n".join(
                f"{t:>4}s {phase:<14} spec.replicas={r} answering={who} fallback={fb}" for t, phase, r, who, fb in log
            )
        )
