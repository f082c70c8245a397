"""Face benchmark on ../shared/data/faces_deepface: verification, identification, throughput.

All 61 photos go through `face-dlib` stage by stage (decode+detect, then landmarks+chip+
descriptor), timed per stage; detection is also timed without the downscaling (the baseline:
HOG on full-resolution pixels). The photos are then uploaded through the REST app (one point
per face), and:
- verification: the 520 labelled pairs via `POST /v1/faces/verify` on the stored main faces
  (raw-descriptor Euclidean distance): accuracy at dlib's 0.6 and at the best threshold, ROC-AUC;
- identification: rank-1 with leave-one-out search (each photo's main face queries the
  collection with that photo's own faces filtered out).
A photo where no face is found counts as a miss: its pairs are answered "different".

    .venv/bin/python loadtest/bench_face.py [--no-baseline] [--plot data/bench_face.png]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "faces_deepface"
THRESHOLD = 0.6


def load_labels() -> tuple[dict[str, str], list[tuple[str, str, int]]]:
    with (DATA / "identities.csv").open() as f:
        identity = {Path(r["file"]).name: r["identity"] for r in csv.DictReader(f)}
    with (DATA / "pairs.csv").open() as f:
        pairs = [
            (Path(r["file_a"]).name, Path(r["file_b"]).name, int(r["same_person"]))
            for r in csv.DictReader(f)
        ]
    return identity, pairs


def stage_timings(encoder: Any, files: list[str], baseline: bool) -> dict[str, float]:
    """Seconds spent per stage over all photos (single-threaded, as one request is served)."""
    from encoders.face.decode import decode_image

    detector, describer = encoder._detector("hog"), encoder._describer
    spent = {"decode": 0.0, "detect": 0.0, "describe": 0.0, "detect_full": 0.0}
    for name in tqdm(files, desc="stages", unit="img"):
        t0 = time.perf_counter()
        image = decode_image((DATA / "images" / name).read_bytes(), name)
        t1 = time.perf_counter()
        found = detector.detect(image, encoder.detect_max_side, 0) or detector.detect(
            image, encoder.detect_max_side, 1
        )
        t2 = time.perf_counter()
        found.sort(key=lambda d: -d.area)
        describer.describe(image, found[:1], 1)
        t3 = time.perf_counter()
        spent["decode"] += t1 - t0
        spent["detect"] += t2 - t1
        spent["describe"] += t3 - t2
        if baseline:
            detector.detect(image, 10**9, 0)  # no downscaling
            spent["detect_full"] += time.perf_counter() - t3
    return spent


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half); higher score = same."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def best_threshold(distances: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The distance cut with the highest accuracy (midpoints between sorted distances)."""
    finite = np.sort(distances[np.isfinite(distances)])
    cuts = np.concatenate([[0.0], (finite[1:] + finite[:-1]) / 2, [finite[-1] + 1e-6]])
    accuracy = [float(((distances <= c) == (labels == 1)).mean()) for c in cuts]
    best = int(np.argmax(accuracy))
    return float(cuts[best]), accuracy[best]


def through_service(
    files: list[str], identity: dict[str, str], pairs: list[tuple[str, str, int]]
) -> dict[str, Any]:
    """Upload, verify every pair and run leave-one-out search over REST (TestClient app)."""
    from fastapi.testclient import TestClient

    from nestvec.client import Client, NestvecError
    from service.app import create_app
    from service.settings import Settings

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), preload_encoders=["face-dlib"])
        with TestClient(create_app(settings)) as http:
            client = Client(http=http)
            client.create_collection("faces", encoder="face-dlib", index="flat")
            missing, started = [], time.perf_counter()
            for name in tqdm(files, desc="upload", unit="img"):
                try:
                    client.upload_files("faces", [(name, (DATA / "images" / name).read_bytes())])
                except NestvecError as exc:
                    missing.append((name, exc.code))
            out["upload_seconds"] = time.perf_counter() - started
            out["missing"] = missing
            found = {n for n in files} - {n for n, _ in missing}
            distances = []
            for a, b, _ in tqdm(pairs, desc="verify", unit="pair"):
                if a not in found or b not in found:
                    distances.append(np.inf)
                    continue
                stored_a = {"collection": "faces", "id": f"{a}#0"}
                stored_b = {"collection": "faces", "id": f"{b}#0"}
                distances.append(client.verify_faces(stored_a, stored_b).distance)
            out["distances"] = np.asarray(distances)
            hits = 0
            for name in tqdm(sorted(found), desc="search", unit="img"):
                others = {"must_not": [{"key": "source_id", "match": {"value": name}}]}
                top = client.search("faces", {"id": f"{name}#0"}, k=1, filter=others)
                hits += bool(top) and identity[top[0].payload["source_id"]] == identity[name]
            out["rank1"], out["queries"] = hits / len(files), len(found)
    return out


def plot(path: Path, distances: np.ndarray, labels: np.ndarray, cut: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finite = np.isfinite(distances)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    bins = np.linspace(0, max(1.2, distances[finite].max()), 40)
    ax1.hist(distances[finite & (labels == 1)], bins, alpha=0.6, label="same person")
    ax1.hist(distances[finite & (labels == 0)], bins, alpha=0.6, label="different")
    ax1.axvline(THRESHOLD, color="k", ls="--", label="dlib 0.6")
    ax1.axvline(cut, color="r", ls=":", label=f"best {cut:.3f}")
    ax1.set(xlabel="Euclidean distance (raw descriptors)", ylabel="pairs", title="520 pairs")
    ax1.legend()
    order = np.argsort(np.where(finite, distances, np.inf))
    tpr = np.cumsum(labels[order] == 1) / max(1, (labels == 1).sum())
    fpr = np.cumsum(labels[order] == 0) / max(1, (labels == 0).sum())
    ax2.plot(np.r_[0, fpr], np.r_[0, tpr])
    ax2.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-baseline", action="store_true", help="skip full-resolution HOG")
    parser.add_argument("--plot", type=Path, default=ROOT / "data" / "bench_face.png")
    args = parser.parse_args()
    from encoders import EncoderPool

    identity, pairs = load_labels()
    files = sorted(identity, key=lambda n: int(n[3:-4]))
    encoder = EncoderPool().get("face-dlib")
    spent = stage_timings(encoder, files, not args.no_baseline)
    svc = through_service(files, identity, pairs)
    labels = np.asarray([same for _, _, same in pairs])
    distances = svc["distances"]
    cut, best_acc = best_threshold(distances, labels)
    n = len(files)
    rows = [
        ("photos / identities / pairs", f"{n} / {len(set(identity.values()))} / {len(pairs)}"),
        ("photos with no face found", f"{len(svc['missing'])} {svc['missing'] or ''}"),
        (
            "verification accuracy @ 0.6",
            f"{float(((distances <= THRESHOLD) == (labels == 1)).mean()):.4f}",
        ),
        (f"verification accuracy @ best ({cut:.3f})", f"{best_acc:.4f}"),
        ("ROC-AUC", f"{roc_auc(-np.nan_to_num(distances, posinf=1e9), labels):.4f}"),
        (
            "rank-1 identification (leave-one-out, REST)",
            f"{svc['rank1']:.4f} ({svc['queries']} queries)",
        ),
        ("decode images/s", f"{n / spent['decode']:.2f}"),
        ("detection images/s (HOG, longer side <= 800)", f"{n / spent['detect']:.2f}"),
        ("embedding images/s (landmarks+chip+descriptor)", f"{n / spent['describe']:.2f}"),
        ("end to end images/s (REST upload, one point/face)", f"{n / svc['upload_seconds']:.2f}"),
    ]
    if spent["detect_full"]:
        rows.append(
            (
                "detection speed-up vs full-resolution HOG",
                f"{spent['detect_full'] / spent['detect']:.2f}x",
            )
        )
    width = max(len(r[0]) for r in rows)
    print(f"\n| {'measure':<{width}} | value |\n|{'-' * (width + 2)}|-------|")
    for label, value in rows:
        print(f"| {label:<{width}} | {value} |")
    plot(args.plot, distances, labels, cut)
    print(f"\nplot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
