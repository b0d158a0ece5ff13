"""The exact per-step discrete-event version of the fleet model, to bound the fast one's error.

Same model as :mod:`simulations.fleet.model` (step time ``base + per_seq * batch + per_kv_token *
kv_tokens + chunk * prefill_s_per_token(prompt)``, decode every step, FIFO prefill in the rest of
the token budget, least-loaded routing with sequence and KV-cache room, no preemption) but
nothing is fluid: every engine step of every pod is an event, a request admitted to a busy pod
waits for the next step, first tokens come out at the end of the step that finishes their
prompt, and each decode step gives every running sequence exactly one token. A fixed set of Ready pods only: it
checks serving, not scaling. Slow by design; use it on short traces.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from simulations.fleet.model import RequestLog
from simulations.profiles import ReplicaProfile
from simulations.traces.workload import TraceWorkload


@dataclass
class _Pod:
    index: int
    prefill: deque[list[float]] = field(default_factory=deque)  # [request, tokens left]
    decoding: list[tuple[int, int]] = field(default_factory=list)  # heap of (finish step, request)
    clock: int = 0
    admitted: int = 0
    kv_prompt: float = 0.0
    sum_d0: int = 0
    decode_prompt: float = 0.0  # prompt tokens of the sequences in decode
    busy_until: float | None = None  # end of the step in progress
    step_chunks: list[tuple[int, float]] = field(default_factory=list)  # prefill done in this step

    def kv_tokens(self) -> float:
        return self.kv_prompt - self.decode_prompt + self.decode_kv_tokens()

    def decode_kv_tokens(self) -> float:
        """What the decoding sequences hold: their prompts and every token generated so far."""
        return self.decode_prompt + len(self.decoding) * (self.clock + 1) - self.sum_d0


def simulate_reference(profile: ReplicaProfile, workload: TraceWorkload, replicas: int) -> RequestLog:
    """Serve ``workload`` on ``replicas`` Ready pods, step by step, until every request is done."""
    base, per_seq = profile.decode_step_base_s, profile.decode_step_per_seq_s
    rate, budget = profile.prefill_tokens_per_s, profile.max_batched_tokens
    per_kv_token, attention = profile.decode_step_per_kv_token_s, profile.prefill_attention_s_per_token2
    arrival = workload.arrival_s.tolist()
    prompt = workload.prompt_tokens.astype(float).tolist()
    output = workload.output_tokens.tolist()
    log = RequestLog.empty(len(arrival))
    pods = [_Pod(i) for i in range(replicas)]
    queue: deque[int] = deque()
    events: list[tuple[float, int]] = []  # (step end, pod index)

    def start_step(pod: _Pod, now: float) -> None:
        n = len(pod.decoding)
        room = float(max(1, budget - n))
        chunks: list[tuple[int, float]] = []
        for entry in pod.prefill:
            if room <= 0:
                break
            take = min(room, entry[1])
            chunks.append((int(entry[0]), take))
            room -= take
        tokens = sum(c for _, c in chunks)
        if n == 0 and tokens == 0:
            pod.busy_until = None
            return
        pod.step_chunks = chunks
        step_s = base + per_seq * n + tokens / rate
        if per_kv_token:
            step_s += per_kv_token * pod.decode_kv_tokens()
        if attention:
            step_s += attention * sum(c * prompt[request] for request, c in chunks)
        pod.busy_until = now + step_s
        heapq.heappush(events, (pod.busy_until, pod.index))

    def finish(pod: _Pod, request: int, now: float) -> None:
        log.finished_at[request] = now
        pod.admitted -= 1
        pod.kv_prompt -= prompt[request]

    def end_step(pod: _Pod, now: float) -> None:
        if pod.decoding:
            pod.clock += 1
        while pod.decoding and pod.decoding[0][0] <= pod.clock:
            finish_step, request = heapq.heappop(pod.decoding)
            pod.sum_d0 -= finish_step - (output[request] - 1)
            pod.decode_prompt -= prompt[request]
            finish(pod, request, now)
        for request, tokens in pod.step_chunks:
            head = pod.prefill[0]
            head[1] -= tokens
            if head[1] <= 1e-9:
                pod.prefill.popleft()
                log.first_token_at[request] = now
                if output[request] <= 1:
                    finish(pod, request, now)
                else:
                    # decodes from the next step on: one token per step, the last after ``left`` steps
                    left = output[request] - 1
                    heapq.heappush(pod.decoding, (pod.clock + left, request))
                    pod.sum_d0 += pod.clock
                    pod.decode_prompt += prompt[request]
        pod.step_chunks = []

    def admit(now: float) -> None:
        while queue:
            request = queue[0]
            best = None
            for pod in pods:
                if pod.admitted >= profile.max_num_seqs:
                    continue
                if pod.admitted > 0 and pod.kv_tokens() + prompt[request] > profile.kv_capacity_tokens:
                    continue
                if best is None or pod.admitted < best.admitted:
                    best = pod
            if best is None:
                return
            queue.popleft()
            log.admitted_at[request] = now
            best.prefill.append([request, prompt[request]])
            best.admitted += 1
            best.kv_prompt += prompt[request]
            if best.busy_until is None:
                start_step(best, now)

    i = 0
    while i < len(arrival) or events:
        next_arrival = arrival[i] if i < len(arrival) else math.inf
        if events and events[0][0] <= next_arrival:
            now, index = heapq.heappop(events)
            pod = pods[index]
            end_step(pod, now)
            admit(now)
            start_step(pod, now)
        else:
            queue.append(i)
            i += 1
            admit(next_arrival)
    return log


def percentile_gap(fast: np.ndarray, exact: np.ndarray, q: float) -> float:
    """Absolute difference of the ``q``-th percentile of two samples (NaN-aware)."""
    return abs(float(np.nanpercentile(fast, q)) - float(np.nanpercentile(exact, q)))
