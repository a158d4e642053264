"""A bounded HTTP load generator for loopback benchmarks (stdlib only).

Several processes (spawned, so they carry nothing of the parent), each with a few
threads, each thread holding one keep-alive `http.client` connection to 127.0.0.1:

- `closed_loop`: every connection sends its next request as soon as the previous
  answer arrives, for a fixed time: the saturating throughput.
- `open_loop`: requests are sent on a fixed schedule at a given rate (each thread
  owns an evenly staggered slice of it); latency is measured from the *scheduled*
  send time, so a stalled server shows up in p99 instead of silently lowering the
  offered rate (no coordinated omission).

Both stop by themselves: at a deadline, and at a cap on the number of requests.
A request in flight at the deadline is finished, never abandoned, so every answer
the server committed is counted.
"""

from __future__ import annotations

import http.client
import multiprocessing as mp
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"  # loopback only, by construction
SOCKET_TIMEOUT = 15.0
MAX_REQUESTS_PER_PHASE = 500_000
START_DELAY = 1.5  # seconds for spawned workers to get ready before the common start


@dataclass(frozen=True)
class RequestSpec:
    """One request shape; `{token}` in no field: tokens go in the Authorization header."""

    method: str
    path: str
    body: bytes | None = None
    content_type: str | None = None
    tokens: tuple[str, ...] = ()  # Bearer tokens, cycled over


@dataclass
class PhaseResult:
    mode: str
    seconds: float  # wall time from the common start to the last answer
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds
    offered_rate: float | None = None
    unsent: int = 0
    client_cpu: float = 0.0  # the load generator's own CPU seconds (its threads' work)

    @property
    def completed(self) -> int:
        return sum(n for s, n in self.statuses.items() if s != "error")

    @property
    def throughput(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0

    def count(self, *statuses: int) -> int:
        return sum(self.statuses.get(str(s), 0) for s in statuses)

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[index]


def _headers(spec: RequestSpec, n: int) -> dict[str, str]:
    headers = {"Host": HOST, "User-Agent": "distserver-bench/1", "Connection": "keep-alive"}
    if spec.tokens:
        headers["Authorization"] = f"Bearer {spec.tokens[n % len(spec.tokens)]}"
    if spec.content_type:
        headers["Content-Type"] = spec.content_type
    return headers


class _Connection:
    def __init__(self, port: int):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def send(self, spec: RequestSpec, n: int) -> str:
        """One request; the status as a string, or "error" (the connection is reset)."""
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=SOCKET_TIMEOUT)
            try:
                self.conn.request(spec.method, spec.path, body=spec.body, headers=_headers(spec, n))
                response = self.conn.getresponse()
                response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                return str(response.status)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A keep-alive connection the server had closed: once more on a new one
                # (nothing reached the application on the old one).
                self.close()
                if attempt:
                    return "error"
            except (OSError, http.client.HTTPException):
                self.close()
                return "error"
        return "error"

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _closed_thread(
    port: int, spec: RequestSpec, start: float, end: float, cap: int, offset: int, out: dict
) -> None:
    conn = _Connection(port)
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    n = offset
    _sleep_until(start)
    try:
        while time.time() < end and len(latencies) < cap:
            t0 = time.perf_counter()
            statuses[conn.send(spec, n)] += 1
            latencies.append(time.perf_counter() - t0)
            n += 1
    finally:
        conn.close()
    out.update(statuses=statuses, latencies=latencies, last=time.time())


def _open_thread(
    port: int,
    spec: RequestSpec,
    start: float,
    end: float,
    interval: float,
    phase: float,
    hard_end: float,
    offset: int,
    out: dict,
) -> None:
    conn = _Connection(port)
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    unsent = 0
    k = 0
    # Map wall clock to perf_counter once, so the schedule is monotonic.
    base_wall, base_perf = time.time(), time.perf_counter()
    start_perf = base_perf + (start - base_wall)
    end_perf = base_perf + (end - base_wall)
    hard_perf = base_perf + (hard_end - base_wall)
    try:
        while True:
            scheduled = start_perf + phase + k * interval
            if scheduled >= end_perf:
                break
            now = time.perf_counter()
            if now > hard_perf:  # hopelessly behind: count what was never sent
                unsent += int((end_perf - scheduled) / interval) + 1
                break
            if scheduled > now:
                time.sleep(scheduled - now)
            statuses[conn.send(spec, offset + k)] += 1
            latencies.append(time.perf_counter() - scheduled)
            k += 1
    finally:
        conn.close()
    out.update(statuses=statuses, latencies=latencies, last=time.time(), unsent=unsent)


def _sleep_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        time.sleep(delay)


def _worker(
    mode: str,
    index: int,
    threads: int,
    processes: int,
    port: int,
    spec: RequestSpec,
    start: float,
    seconds: float,
    *,
    cap: int,
    rate: float,
    queue: Any,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    end = start + seconds
    outs: list[dict] = [{} for _ in range(threads)]
    workers: list[threading.Thread] = []
    total_threads = threads * processes
    for t in range(threads):
        slot = index * threads + t
        offset = slot * 7919  # spread token use across connections
        if mode == "closed":
            args: tuple = (port, spec, start, end, max(1, cap // threads), offset, outs[t])
            target = _closed_thread
        else:
            interval = total_threads / rate
            phase = slot * interval / total_threads
            args = (port, spec, start, end, interval, phase, end + seconds * 0.5 + 5, offset)
            args += (outs[t],)
            target = _open_thread
        workers.append(threading.Thread(target=target, args=args, daemon=True))
    cpu = time.process_time()  # start-up excluded: only the requests' work counts
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    cpu = time.process_time() - cpu
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    unsent = 0
    last = start
    for out in outs:
        statuses.update(out.get("statuses", {}))
        latencies.extend(out.get("latencies", []))
        unsent += out.get("unsent", 0)
        last = max(last, out.get("last", start))
    queue.put(
        {
            "statuses": dict(statuses),
            "latencies": latencies,
            "unsent": unsent,
            "last": last,
            "cpu": cpu,
        }
    )


def _run(
    mode: str,
    port: int,
    spec: RequestSpec,
    seconds: float,
    processes: int,
    threads: int,
    rate: float = 0.0,
    max_requests: int = MAX_REQUESTS_PER_PHASE,
) -> PhaseResult:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    start = time.time() + START_DELAY
    procs = []
    for i in range(processes):
        p = ctx.Process(
            target=_worker,
            args=(mode, i, threads, processes, port, spec, start, seconds),
            kwargs={"cap": max(1, max_requests // processes), "rate": rate, "queue": queue},
            daemon=True,
        )
        procs.append(p)
    try:
        for p in procs:
            p.start()
        parts = [queue.get(timeout=START_DELAY + seconds * 2 + SOCKET_TIMEOUT + 30) for _ in procs]
        for p in procs:
            p.join(timeout=10)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
    result = PhaseResult(mode=mode, seconds=0.0, offered_rate=rate if mode == "open" else None)
    last = start
    for part in parts:
        result.statuses.update(part["statuses"])
        result.latencies.extend(part["latencies"])
        result.unsent += part["unsent"]
        result.client_cpu += part["cpu"]
        last = max(last, part["last"])
    result.seconds = max(last - start, 1e-9)
    return result


def closed_loop(
    port: int,
    spec: RequestSpec,
    seconds: float,
    *,
    processes: int = 2,
    threads: int = 6,
    max_requests: int = MAX_REQUESTS_PER_PHASE,
) -> PhaseResult:
    """Saturating throughput: processes x threads connections, back to back."""
    return _run("closed", port, spec, seconds, processes, threads, max_requests=max_requests)


def open_loop(
    port: int,
    spec: RequestSpec,
    seconds: float,
    rate: float,
    *,
    processes: int = 2,
    threads: int = 8,
) -> PhaseResult:
    """A paced run at `rate` requests/s for `seconds`; latencies from the schedule."""
    if rate <= 0:
        raise ValueError("the open-loop rate must be positive")
    cap = int(rate * seconds) + processes * threads
    return _run("open", port, spec, seconds, processes, threads, rate=rate, max_requests=cap)
