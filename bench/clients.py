"""bench.ingest's HTTP clients of the collector: batches posted by concurrent threads, profile
lookups one after another, and what the answer times say about throughput over the run."""

import base64
import threading
import time

import httpx


def post_batches(url, write_key, bodies, clients):
    """Every body posted once to /v1/batch by `clients` threads, each on its own keep-alive
    connection: (per-request latency s, each answer's time since the start s, wall time s, this
    process's CPU time s over it)."""
    auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    lock = threading.Lock()
    pending = iter(range(len(bodies)))
    latencies, answered, failures = [None] * len(bodies), [None] * len(bodies), []
    # Connections are opened before the clock starts, then every client starts at once.
    ready = threading.Barrier(clients + 1)

    def post(http):
        while not failures:
            with lock:
                index = next(pending, None)
            if index is None:
                return
            began = time.perf_counter()
            response = http.post("/v1/batch", content=bodies[index])
            ended = time.perf_counter()
            if response.status_code != 200 or not response.json().get("success"):
                failures.append(f"batch {index}: {response.status_code} {response.text[:300]}")
                return
            latencies[index], answered[index] = ended - began, ended

    def client():
        http = httpx.Client(base_url=url, headers=headers, timeout=120)
        try:
            try:
                http.get("/healthz").raise_for_status()
            finally:
                ready.wait()
            post(http)
        except Exception as exc:  # reported by the main thread, which stops the run
            failures.append(repr(exc))
        finally:
            http.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    began, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    if failures or None in answered:
        raise RuntimeError("a batch failed: " + (failures or ["a client thread ended early"])[0])
    return latencies, [t - began for t in answered], wall, cpu


def lookups(url, token, ids):
    """GET /api/profiles/lookup of each (kind, value), one after another on one keep-alive
    connection: (latencies s, each profile's eventCount)."""
    latencies, events = [], []
    with httpx.Client(base_url=url, headers={"Authorization": "Bearer " + token}, timeout=60) as http:
        http.get("/healthz").raise_for_status()
        for kind, value in ids:
            began = time.perf_counter()
            response = http.get("/api/profiles/lookup", params={kind: value})
            latencies.append(time.perf_counter() - began)
            if response.status_code != 200:
                raise RuntimeError(f"lookup {kind}={value}: {response.status_code} {response.text[:300]}")
            events.append(response.json()["eventCount"])
    return latencies, events


def throughput_by_part(sizes, answered, parts=5):
    """events/s in the first and the last fifth of the run, by answer time: does a fuller store
    slow it? sizes: events per batch; answered: each batch's answer time."""
    order = sorted(range(len(answered)), key=answered.__getitem__)
    chunk = max(1, len(order) // parts)
    if len(order) < 2 * chunk or chunk < 2:
        return None, None

    def rate(indexes, since):
        return sum(sizes[i] for i in indexes) / (answered[indexes[-1]] - since)

    first, last = order[:chunk], order[-chunk:]
    return rate(first, 0.0), rate(last, answered[order[-chunk - 1]])
