"""One tenant never stops another: a silent Prometheus source delays only the workloads that read it."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from emulation.emulator import EmulatorServer, FleetEmulator
from emulation.local_prometheus import PrometheusServer
from tests.conftest import scaler_config
from tests.support.net import wait_for
from tests.support.scaler import RunningScaler, keda_poll, ref

pytestmark = pytest.mark.integration


def test_a_silent_source_delays_only_its_own_workloads(
    emulator: tuple[FleetEmulator, EmulatorServer],
    prometheus: PrometheusServer,
    silent_address: str,
    start_scaler: Callable[..., RunningScaler],
) -> None:
    fleet, _ = emulator
    # 30 waiting, 2 ready pods holding 8: 22 excess -> 6 more, 8 in all.
    fleet.set_load("iso-good", "llama", replicas=2, queue=30, running=16, generation_tps=800, kv_cache_usage=0.6)
    prometheus.wait_for_series('sum(vllm:num_requests_waiting{namespace="iso-good"}) == 30')
    # Three configured sources behind the same silent address: each cycle's first query to each waits out
    # its 5 s timeout. Collected in turn with the good source, one cycle took 15 s or more and every
    # workload's decision aged with it.
    silent = {f"silent-{i}": f"{silent_address}/{i}" for i in range(3)}
    config = scaler_config(prometheus.url, prometheus_sources=silent, query_timeout_s=5.0, refresh_interval_s=0.5)
    running = start_scaler(config)
    stub = running.stub()
    good = ref("so", "iso-good", deployment="llama")
    wait_for(lambda: keda_poll(stub, good)[2] == 8, timeout=30, what="the good workload's first answer")
    for i, name in enumerate(silent):  # the silent tenant's triggers register; their first collection hangs
        with pytest.raises(grpc.RpcError) as err:
            keda_poll(stub, ref(f"so-{i}", "iso-silent", deployment=f"llama-{i}", prometheus=name))
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    workload = next(w for w in running.server.registry.all() if w.key.namespace == "iso-good")
    seen: set[float] = set()

    def refreshed() -> bool:
        assert keda_poll(stub, good)[2] == 8  # answered all along, never UNAVAILABLE
        if workload.latest is not None:
            seen.add(workload.latest.at)
        return len(seen) >= 6

    # Collected beside the silent sources, the good workload is decided every cycle (0.5 s); collected in
    # turn with them, once per 15 s or more, and this wait ran out.
    wait_for(refreshed, timeout=15, interval=0.1, what="six fresh decisions for the good workload")
