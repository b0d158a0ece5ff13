"""Fitting a replica profile from a real Prometheus holding a Deployment's history (promtool backfill)."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from emulation.local_prometheus import PrometheusServer
from scaler.prometheus import PrometheusSource
from simulations.profiles import load_profile
from simulations.profiles.fit import FitError, fit_decode_step, fit_from_prometheus
from tests.support.backfill import Series, create_blocks, write_openmetrics

pytestmark = pytest.mark.integration
BASE, PER_SEQ, PER_KV, PREFILL, BLOCKS, BLOCK = 0.009, 0.00005, 6e-8, 24_000.0, 20_000, 16
STEP, HISTORY_S = 15.0, 7200.0


def history(pod: str, phase: float, times: list[float]) -> list[Series]:
    """Counters a vLLM pod would have written with a batch that swings between 10 and 190 and contexts
    between 400 and 1,600 tokens on another period, so the two costs can be told apart."""
    labels = {"namespace": "fit", "pod": pod, "job": "fleet", "instance": "backfill"}
    itl_sum = itl_count = prompt = prefill = 0.0
    running, sums, counts, prompts, prefills, usage = [], [], [], [], [], []
    for t in times:
        batch = 100.0 + 90.0 * math.sin(phase + t / 600.0)
        kv_tokens = batch * (1000.0 + 600.0 * math.sin(phase + t / 1700.0))
        step = BASE + PER_SEQ * batch + PER_KV * kv_tokens
        usage.append((t, kv_tokens / (BLOCKS * BLOCK)))
        tokens = STEP * batch / step  # decode tokens in one scrape interval
        itl_count += tokens
        itl_sum += tokens * step
        prompt += 3000.0 * STEP
        prefill += 3000.0 * STEP / PREFILL
        running.append((t, batch))
        sums.append((t, itl_sum))
        counts.append((t, itl_count))
        prompts.append((t, prompt))
        prefills.append((t, prefill))
    info = {**labels, "num_gpu_blocks": str(BLOCKS), "block_size": str(BLOCK)}
    return [
        Series("vllm:num_requests_running", "gauge", labels, running),
        Series("vllm:kv_cache_usage_perc", "gauge", labels, usage),
        Series("vllm:inter_token_latency_seconds_sum", "gauge", labels, sums),
        Series("vllm:inter_token_latency_seconds_count", "gauge", labels, counts),
        Series("vllm:prompt_tokens", "counter", labels, prompts),
        Series("vllm:request_prefill_time_seconds_sum", "gauge", labels, prefills),
        Series("vllm:cache_config_info", "gauge", info, [(t, 1.0) for t in times]),
    ]


def test_profile_is_fitted_from_backfilled_vllm_history(tmp_path: Path) -> None:
    now = time.time()
    times = [now - HISTORY_S + i * STEP for i in range(int(HISTORY_S / STEP))]
    series = history("llama-5d8f9c-x7k2p", 0.0, times) + history("llama-5d8f9c-q4m8z", 1.5, times)
    om = tmp_path / "history.om"
    write_openmetrics(om, series)
    create_blocks(om, tmp_path / "data")
    prom = PrometheusServer(["127.0.0.1:9"], data_dir=tmp_path / "data").start()
    try:
        base = load_profile("llama3-8b-h100")
        report = fit_from_prometheus(PrometheusSource(prom.url, timeout_s=10), "fit", "llama", base, now, hours=1.5)
    finally:
        prom.stop()
    fitted = report.profile
    assert fitted.name == "llama-fitted"
    assert fitted.decode_step_base_s == pytest.approx(BASE, rel=0.05)
    assert fitted.decode_step_per_seq_s == pytest.approx(PER_SEQ, rel=0.05)
    assert fitted.decode_step_per_kv_token_s == pytest.approx(PER_KV, rel=0.05)
    assert fitted.prefill_tokens_per_s == pytest.approx(PREFILL, rel=0.02)
    assert fitted.kv_capacity_tokens == BLOCKS * BLOCK
    assert fitted.cold_start == base.cold_start and fitted.max_num_seqs == base.max_num_seqs
    assert report.points >= 170  # 1.5 h at a 60 s step, two pods


@pytest.mark.parametrize(
    ("name", "batch", "message"),
    [
        (
            "too little history",
            np.arange(1.0, 5.0),
            "need at least 10 samples of batch size and inter-token latency, got 4",
        ),
        ("a constant batch", np.full(20, 8.0), "the batch size barely varied (8.0-8.0); cannot separate the terms"),
    ],
)
def test_fit_refuses_what_it_cannot_separate(name: str, batch: np.ndarray, message: str) -> None:
    with pytest.raises(FitError) as err:
        fit_decode_step(batch, 0.01 + 0.001 * batch)
    assert str(err.value) == message


def test_fit_recovers_exact_parameters_from_clean_points() -> None:
    batch = np.linspace(1, 256, 50)
    fit = fit_decode_step(batch, 0.007 + 0.0001 * batch)
    assert (fit.base_s, fit.per_seq_s, fit.per_kv_token_s) == (pytest.approx(0.007), pytest.approx(0.0001), 0.0)
    assert fit.rmse_s < 1e-9
    assert fit.kv_note == "no KV-cache use beside every sample: the KV term is 0"


CLEAN_BATCH = np.linspace(1, 256, 50)


@pytest.mark.parametrize(
    ("name", "kv_tokens", "per_kv", "note"),
    [
        (
            "contexts that vary apart from the batch",
            CLEAN_BATCH * (1000 + 800 * np.sin(np.arange(50.0))),
            5.6e-8,
            "",
        ),
        (
            "every sequence 1,500 tokens long",
            CLEAN_BATCH * 1500.0,
            0.0,
            "the KV cache's use moved with the batch (sequences of one length): the KV term is 0",
        ),
    ],
)
def test_fit_separates_the_kv_cache_read_only_when_it_can(
    name: str, kv_tokens: np.ndarray, per_kv: float, note: str
) -> None:
    step = 0.0074 + 0.000052 * CLEAN_BATCH + 5.6e-8 * kv_tokens
    fit = fit_decode_step(CLEAN_BATCH, step, kv_tokens)
    assert (fit.per_kv_token_s, fit.kv_note) == (pytest.approx(per_kv, rel=1e-6), note)
    if not note:
        assert (fit.base_s, fit.per_seq_s) == (pytest.approx(0.0074), pytest.approx(0.000052))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--prometheus", "prometheus:9090", "--namespace", "llm", "--deployment", "llama"],
            "--prometheus 'prometheus:9090' is not an http:// or https:// base URL with no user, query or fragment",
            id="an address without a scheme",
        ),
        pytest.param(
            ["--prometheus", "http://127.0.0.1:9", "--namespace", 'llm"}', "--deployment", "llama"],
            "--namespace 'llm\"}' is not a Kubernetes name; allowed: a lower-case DNS label, at most 63 characters",
            id="a namespace that would break the query",
        ),
        pytest.param(
            ["--prometheus", "http://127.0.0.1:9", "--namespace", "llm", "--deployment", "Llama"],
            "--deployment 'Llama' is not a Kubernetes name; allowed: a lower-case DNS label, at most 63 characters",
            id="an upper-case Deployment",
        ),
    ],
)
def test_profile_fit_refuses_bad_options_before_querying(args: list[str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "simulations.cli", "profile-fit", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (proc.returncode, proc.stderr.strip()) == (2, f"error: {message}")
