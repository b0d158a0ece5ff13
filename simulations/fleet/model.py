"""The fleet model: pods with a lifecycle, each serving with continuous batching.

Time advances in fixed ticks (``tick_s``); inside a tick each pod's engine is a fluid
model of vLLM's scheduler: a step takes ``base + per_seq * batch + per_kv_token * kv_tokens +
chunk * prefill_s_per_token(prompt)`` (:class:`ReplicaProfile`), decode runs every step, and
prefill fills the rest of the step's token budget in FIFO order. Prefill completions (first
tokens) are placed exactly inside the tick; decode completions are interpolated.
``simulations.fleet.reference`` is the exact per-step discrete-event version of the same model,
used to bound this one's error.

Requests wait in one FIFO queue (a gateway) and are routed to the least-loaded ready pod
that has a free sequence slot and KV-cache room for the prompt. KV-cache use grows with
every decoded token; there is no preemption, so usage can exceed capacity briefly and is
then reported as 1.0 and blocks admission until sequences finish.

Pods: Pending (scheduling) -> Starting (image pull, model load) -> Ready -> Draining -> gone.
GPU time is paid from creation, not from readiness. Scale-down removes pods that are not
ready first (newest first), then the most recently ready pods, which drain: they take no
new requests and finish what they hold within ``drain_grace_s``.

The engine holds no global state and writes no files; time is the tick's argument.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from simulations.profiles import ReplicaProfile
from simulations.traces.workload import TraceWorkload


class Pod:
    """One replica. Decode progress is a per-pod step counter (``clock``): every running
    sequence gains one token per step, so a sequence that joined decode at step ``d0``
    with ``n`` tokens left finishes at step ``d0 + n`` (a heap keyed by that)."""

    __slots__ = (
        "admitted",
        "busy_s",
        "clock",
        "created_at",
        "decode_prompt",
        "deleted_at",
        "drain_deadline",
        "gen_total",
        "heap",
        "index",
        "kv_prompt",
        "n_decode",
        "prefill",
        "prefill_left",
        "prompt_total",
        "ready_at",
        "scheduled_at",
        "success_total",
        "sum_d0",
    )

    def __init__(self, index: int, created_at: float, scheduled_at: float, ready_at: float) -> None:
        self.index = index
        self.created_at = created_at
        self.scheduled_at = scheduled_at
        self.ready_at = ready_at
        self.deleted_at: float | None = None
        self.drain_deadline: float | None = None
        self.prefill: deque[list[float]] = deque()  # [request, tokens left, available at]
        self.prefill_left = 0.0
        self.heap: list[tuple[float, int]] = []  # (finish step, request)
        self.n_decode = 0
        self.clock = 0.0
        self.sum_d0 = 0.0
        self.admitted = 0
        self.kv_prompt = 0.0
        self.decode_prompt = 0.0  # prompt tokens of the sequences in decode
        self.prompt_total = 0.0
        self.gen_total = 0.0
        self.success_total = 0.0
        self.busy_s = 0.0

    @property
    def draining(self) -> bool:
        return self.drain_deadline is not None

    def is_ready(self, now: float) -> bool:
        return self.ready_at <= now

    def kv_tokens(self) -> float:
        """Tokens held in the KV cache: prompts of admitted requests plus tokens decoded so far."""
        return self.kv_prompt + self.n_decode * (self.clock + 1.0) - self.sum_d0


@dataclass
class RequestLog:
    """Per-request outcomes (NaN = did not happen): the simulator's ground truth."""

    admitted_at: np.ndarray
    first_token_at: np.ndarray
    finished_at: np.ndarray
    interrupted: np.ndarray

    @classmethod
    def empty(cls, n: int) -> RequestLog:
        return cls(np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, dtype=bool))


class Fleet:
    """Pods, the gateway queue and the requests they serve, advanced tick by tick."""

    def __init__(
        self,
        profile: ReplicaProfile,
        workload: TraceWorkload,
        rng: np.random.Generator,
        tick_s: float = 0.5,
        drain_grace_s: float = 600.0,
    ) -> None:
        self.profile = profile
        self.tick_s = tick_s
        self.drain_grace_s = drain_grace_s
        self.rng = rng
        self._arrival = workload.arrival_s.tolist()
        self._prompt = workload.prompt_tokens.astype(float).tolist()
        self._output = workload.output_tokens.tolist()
        self._next_arrival = 0
        n = len(self._arrival)
        self._admitted_at = [math.nan] * n
        self._first_at = [math.nan] * n
        self._finished_at = [math.nan] * n
        self._interrupted: list[int] = []
        self.queue: deque[int] = deque()
        self.pods: list[Pod] = []  # live: not yet gone
        self.gone: list[Pod] = []
        self._created = 0
        self.cold_starts: list[float] = []  # observed created -> Ready, in order of readiness
        self._pending_ready: list[Pod] = []

    # -- lifecycle -----------------------------------------------------------------------

    def add_pod(self, now: float, cold_start_s: tuple[float, float] | None = None, warm: bool = False) -> Pod:
        """Create a pod at ``now``; ``warm`` pods are Ready at once (the fleet at t=0)."""
        if warm:
            scheduling, total = 0.0, 0.0
        else:
            scheduling, total = cold_start_s if cold_start_s is not None else self.draw_cold_start()
        pod = Pod(self._created, now, now + scheduling, now + total)
        self._created += 1
        self.pods.append(pod)
        if not warm:
            self._pending_ready.append(pod)
        return pod

    def draw_cold_start(self) -> tuple[float, float]:
        return self.profile.cold_start.sample(self.rng)

    def active_pods(self) -> list[Pod]:
        """Pods that count toward the Deployment's replicas (not draining)."""
        return [p for p in self.pods if not p.draining]

    def scale_to(self, replicas: int, now: float, prefer_ready: bool = False) -> None:
        """Reconcile like a ReplicaSet: create pods, or delete not-ready pods first, then drain."""
        active = self.active_pods()
        if replicas > len(active):
            for _ in range(replicas - len(active)):
                self.add_pod(now)
            return
        excess = len(active) - replicas
        if excess <= 0:
            return
        not_ready = sorted((p for p in active if not p.is_ready(now)), key=lambda p: -p.created_at)
        ready = sorted((p for p in active if p.is_ready(now)), key=lambda p: (-p.ready_at, -p.index))
        order = ready + not_ready if prefer_ready else not_ready + ready
        for pod in order[:excess]:
            if pod.is_ready(now):
                pod.drain_deadline = now + self.drain_grace_s
                if pod.admitted == 0:
                    self._remove(pod, now)
            else:
                self._remove(pod, now)

    def _remove(self, pod: Pod, now: float) -> None:
        pod.deleted_at = now
        self.pods.remove(pod)
        self.gone.append(pod)
        if pod in self._pending_ready:
            self._pending_ready.remove(pod)
        for entry in pod.prefill:  # cut off mid-prefill: never got a first token
            self._interrupted.append(int(entry[0]))
        for _, request in pod.heap:
            self._interrupted.append(request)

    def gpu_seconds(self, now: float) -> float:
        """GPU time paid so far: every pod from creation until deleted (or ``now``)."""
        gpus = self.profile.gpus_per_replica
        paid = sum((p.deleted_at or now) - p.created_at for p in self.gone)
        paid += sum(max(0.0, now - p.created_at) for p in self.pods)
        return gpus * paid

    # -- one tick --------------------------------------------------------------------------

    def step(self, t0: float) -> None:
        """Advance the fleet over [t0, t0 + tick_s)."""
        t1 = t0 + self.tick_s
        for pod in [p for p in self._pending_ready if p.ready_at <= t0]:
            self._pending_ready.remove(pod)
            self.cold_starts.append(pod.ready_at - pod.created_at)
        arrival = self._arrival
        i = self._next_arrival
        n = len(arrival)
        j = i
        while j < n and arrival[j] < t1:
            j += 1
        if j > i:
            self.queue.extend(range(i, j))
            self._next_arrival = j
        if self.queue:
            self._admit(t0)
        for pod in list(self.pods):
            if pod.ready_at <= t0:
                self._serve(pod, t0, t1)
                if pod.drain_deadline is not None and (pod.admitted == 0 or t1 >= pod.drain_deadline):
                    self._remove(pod, t1)

    def _admit(self, t0: float) -> None:
        """Route queued requests, oldest first, to the least-loaded ready pod with room."""
        profile = self.profile
        max_seqs = profile.max_num_seqs
        capacity = profile.kv_capacity_tokens
        candidates = [(p.admitted, p.index, p) for p in self.pods if p.ready_at <= t0 and p.drain_deadline is None]
        heapq.heapify(candidates)
        queue = self.queue
        prompt = self._prompt
        arrival = self._arrival
        admitted_at = self._admitted_at
        kv_used = {p.index: p.kv_tokens() for _, _, p in candidates}
        while queue and candidates:
            load, index, pod = candidates[0]
            request = queue[0]
            tokens = prompt[request]
            if load >= max_seqs or (kv_used[index] + tokens > capacity and load > 0):
                heapq.heappop(candidates)  # full for this tick
                continue
            queue.popleft()
            at = arrival[request]
            at = max(at, t0)
            admitted_at[request] = at
            pod.prefill.append([request, tokens, at])
            pod.prefill_left += tokens
            pod.admitted += 1
            pod.kv_prompt += tokens
            kv_used[index] += tokens
            heapq.heapreplace(candidates, (load + 1, index, pod))

    def _serve(self, pod: Pod, t0: float, t1: float) -> None:
        """Run one pod's engine over [t0, t1): prefill in FIFO order beside decode."""
        profile = self.profile
        base = profile.decode_step_base_s
        per_seq = profile.decode_step_per_seq_s
        per_kv_token = profile.decode_step_per_kv_token_s
        prefill_rate = profile.prefill_tokens_per_s
        attention = profile.prefill_attention_s_per_token2
        budget = profile.max_batched_tokens
        output = self._output
        prompt = self._prompt
        first_at = self._first_at
        n = pod.n_decode
        clock = pod.clock
        start_clock = clock
        prefill = pod.prefill
        t = t0
        busy = 0.0
        gen = 0.0
        prompt_done = 0.0
        while t < t1:
            decode_s = base + per_seq * n
            if per_kv_token:  # the decoding sequences' KV cache, read every step
                decode_s += per_kv_token * (pod.decode_prompt + n * (clock + 1.0) - pod.sum_d0)
            if not prefill:
                if n:
                    steps = (t1 - t) / decode_s
                    clock += steps
                    gen += steps * n
                    busy += t1 - t
                break
            head = prefill[0]
            if head[2] > t:  # next prompt not here yet: decode only until it is
                until = head[2] if head[2] < t1 else t1
                if n:
                    steps = (until - t) / decode_s
                    clock += steps
                    gen += steps * n
                    busy += until - t
                t = until
                continue
            chunk = min(max(float(budget - n), 1.0), pod.prefill_left)
            step_s = decode_s + chunk / prefill_rate
            if attention:  # the head prompt's mean attention cost per token
                step_s += chunk * attention * prompt[int(head[0])]
            rate = chunk / step_s  # prefill tokens/s
            need = head[1] / rate
            if t + need <= t1:
                t += need
                clock += need / step_s
                gen += n * need / step_s
                busy += need
                prefill.popleft()
                request = int(head[0])
                pod.prefill_left -= head[1]
                prompt_done += head[1]
                first_at[request] = t
                gen += 1.0  # the first token comes out of prefill
                left = output[request] - 1
                if left <= 0:
                    self._finish(pod, request, t)
                else:
                    heapq.heappush(pod.heap, (clock + left, request))
                    n += 1
                    pod.sum_d0 += clock
                    pod.decode_prompt += prompt[request]
            else:
                span = t1 - t
                done = rate * span
                head[1] -= done
                pod.prefill_left -= done
                prompt_done += done
                clock += span / step_s
                gen += n * span / step_s
                busy += span
                t = t1
        pod.n_decode = n
        pod.clock = clock
        pod.busy_s += busy
        pod.prompt_total += prompt_done
        heap = pod.heap
        if heap and heap[0][0] <= clock:
            per_step = (t1 - t0) / (clock - start_clock) if clock > start_clock else 0.0
            while heap and heap[0][0] <= clock:
                finish_step, request = heapq.heappop(heap)
                gen -= clock - finish_step  # steps after it finished produced nothing for it
                pod.n_decode -= 1
                pod.sum_d0 -= finish_step - (output[request] - 1)
                pod.decode_prompt -= prompt[request]
                self._finish(pod, request, t0 + (finish_step - start_clock) * per_step)
            if pod.n_decode == 0:  # float residue of the sums would read as a negative KV cache: garbage
                pod.sum_d0 = 0.0
                pod.decode_prompt = 0.0
        pod.gen_total += gen

    def _finish(self, pod: Pod, request: int, at: float) -> None:
        self._finished_at[request] = at
        pod.admitted -= 1
        pod.kv_prompt -= self._prompt[request]
        pod.success_total += 1.0

    # -- results -----------------------------------------------------------------------------

    @property
    def arrived(self) -> int:
        return self._next_arrival

    def idle(self) -> bool:
        """Every request so far has arrived, been served and left."""
        return self._next_arrival == len(self._arrival) and not self.queue and all(p.admitted == 0 for p in self.pods)

    def request_log(self) -> RequestLog:
        log = RequestLog(
            np.asarray(self._admitted_at),
            np.asarray(self._first_at),
            np.asarray(self._finished_at),
            np.zeros(len(self._arrival), dtype=bool),
        )
        if self._interrupted:
            idx = np.asarray(self._interrupted, dtype=np.int64)
            log.interrupted[idx] = True
            log.finished_at[idx] = np.nan
        return log
