"""The service under load: photos a second and latency percentiles for 8 and 32 concurrent
clients posting to /v1/images on loopback, with the peak memory of the service (web process
plus workers), beside the engine called directly in one process on the same photos.

    python bench/serve.py                 # 96 dev photos, 8 and 32 clients
    python bench/serve.py --photos 48 --clients 8

Each photo is posted as a client would (multipart upload, anonymized photo in the response).
Memory is the summed resident set of the service's processes, sampled every 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from service import start_service  # noqa: E402
from wider import DEV, load_dev  # noqa: E402


def rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants, from /proc."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            with open(f"/proc/{current}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            with open(f"/proc/{current}/task/{current}/children") as fh:
                pids += [int(c) for c in fh.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1024


class PeakMemory:
    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, rss_mib(self.pid))

    def __enter__(self) -> PeakMemory:
        self.peak = rss_mib(self.pid)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


async def load(url: str, photos: list[bytes], clients: int) -> tuple[list[float], float, int]:
    """Post every photo once, `clients` at a time; latencies, wall time, failures."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for data in photos:
        queue.put_nowait(data)
    latencies: list[float] = []
    failures = 0

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal failures
        while not queue.empty():
            data = queue.get_nowait()
            started = time.perf_counter()
            response = await http.post("/v1/images", files={"file": ("p.jpg", data)})
            latencies.append(time.perf_counter() - started)
            failures += response.status_code != 200

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        wall = time.perf_counter() - started
    return latencies, wall, failures


def direct(photos: list[bytes]) -> float:
    """Seconds for the engine to do the same photos one after another in this process."""
    import veil

    veil.anonymize_image(photos[0])  # load the models outside the timing, as the service does
    started = time.perf_counter()
    for data in photos:
        veil.anonymize_image(data)
    return time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=96)
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--workers", type=int, default=0, help="service workers (0: default)")
    args = parser.parse_args()
    records = load_dev()
    step = max(1, len(records) // args.photos)
    photos = [(DEV / "images" / r["file"]).read_bytes() for r in records[::step][: args.photos]]
    print(
        f"{len(photos)} WIDER dev photos, {sum(map(len, photos)) / len(photos) / 1024:.0f} KiB each"
    )

    baseline = direct(photos)
    print(f"engine in one process, one photo at a time: {len(photos) / baseline:.2f} photos/s")

    with tempfile.TemporaryDirectory() as tmp:
        extra = ["--workers", str(args.workers)] if args.workers else []
        service = start_service(Path(tmp) / "data", *extra)
        try:
            asyncio.run(load(service.url, photos[:4], 2))  # warm every worker
            print(
                f"{'clients':>7} {'photos/s':>9} {'vs engine':>9} {'p50 s':>7} {'p90 s':>7} "
                f"{'p99 s':>7} {'max s':>7} {'peak MiB':>9} {'failed':>6}"
            )
            for clients in args.clients:
                with PeakMemory(service.process.pid) as memory:
                    latencies, wall, failures = asyncio.run(load(service.url, photos, clients))
                rate = len(photos) / wall
                print(
                    f"{clients:>7} {rate:>9.2f} {rate * baseline / len(photos):>8.2f}x "
                    f"{statistics.median(latencies):>7.2f} {pct(latencies, 90):>7.2f} "
                    f"{pct(latencies, 99):>7.2f} {max(latencies):>7.2f} {memory.peak:>9.0f} "
                    f"{failures:>6}"
                )
        finally:
            service.stop()


if __name__ == "__main__":
    main()
