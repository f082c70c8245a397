"""MoE sentence encoder vs base MiniLM vs the generalist fine-tune, per domain, in one table.

    .venv/bin/python loadtest/bench_moe.py --models-dir /tmp/clean/models --train   # ~65 min

`--train` first runs, for each model missing under --models-dir, the default command
`nestvec train moe` and the generalist on the same batches, `nestvec train moe --only generalist`
(wall times printed). Then per domain: SciFact test nDCG@10, NFCorpus dev nDCG@10, AG News
held-out title -> description recall@1 and nDCG@10 (corpus: the held-out descriptions of all four
topics), then the paper's pair metric (cosine as same-pair classifier: held-out positive pairs vs
the same anchors with a random in-domain non-relevant document; F1max, ROC-AUC). Columns: base,
generalist, MoE with enforced routing (each text through its domain's expert), MoE with
router-chosen routing. Then the goals (enforced >= base on every domain, +0.02 average nDCG@10
over base and over the generalist, router >= 0.95), the router's confusion matrix on the held-out
texts, MoE / base encode throughput, and a PNG of nDCG@10 per domain.

Router-chosen vectors are exact: a text the router sends to expert d gets the vector of enforcing
d (tests/moe check this), so only texts routed away from their own domain are encoded again.
Corpora are subsampled (all judged documents of the kept queries first) so that the run fits a
2-core box; embeddings are cached per model under data/bench-cache/moe/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from encoders.moe import data  # noqa: E402
from encoders.moe.metrics import f1_max, ndcg_at_k, rankings, recall_at_1, roc_auc  # noqa: E402

MODELS = ("base", "generalist", "moe", "router")
NESTVEC = str(Path(sys.executable).parent / "nestvec")
TRAIN = {  # the README's default command, and the generalist on the same batches
    "moe-minilm": [NESTVEC, "train", "moe"],
    "minilm-generalist": [NESTVEC, "train", "moe", "--only", "generalist"],
}
GOAL_GAIN = 0.02
Encode = Callable[[list[str], list[str]], np.ndarray]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models-dir", type=Path, default=Path("data/models"))
    p.add_argument(
        "--data-root",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "data",
    )
    p.add_argument("--train", action="store_true", help="train the missing models first")
    p.add_argument("--png", type=Path, help="default: MODELS_DIR/../bench_moe.png")
    p.add_argument("--queries", type=int, default=300, help="SciFact/NFCorpus queries kept")
    p.add_argument("--corpus", type=int, default=1000, help="SciFact/NFCorpus documents kept")
    p.add_argument("--ag", type=int, default=100, help="held-out AG pairs per topic")
    p.add_argument("--max-seq-length", type=int, default=256, help="for every model alike")
    p.add_argument("--throughput-texts", type=int, default=96)
    p.add_argument("--only", choices=MODELS[:3], help="encode (and cache) one model, no table")
    p.add_argument("--cache-dir", type=Path, default=Path("data/bench-cache/moe"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    return p.parse_args()


def tasks(args: argparse.Namespace) -> dict[str, data.Retrieval]:
    """Subsampled retrieval tasks per domain; every doc keeps its domain for routing."""
    rng = random.Random(args.seed)
    out = {}
    for name, split in (("scifact", "test"), ("nfcorpus", "dev")):
        task = data.beir(args.data_root / name, split)
        qids = sorted(task.queries)
        rng.shuffle(qids)
        qids = qids[: args.queries]
        judged = sorted({d for q in qids for d in task.qrels[q]})
        rest = sorted(set(task.corpus) - set(judged))
        rng.shuffle(rest)
        keep = (judged + rest)[: max(args.corpus, 1)]
        corpus = {d: task.corpus[d] for d in keep}
        qrels = {q: {d: r for d, r in task.qrels[q].items() if d in corpus} for q in qids}
        qrels = {q: r for q, r in qrels.items() if r}
        queries = {q: task.queries[q] for q in qrels}
        out[name] = data.Retrieval(queries, corpus, qrels, dict.fromkeys(corpus, name))
    saved = args.models_dir / "moe-minilm"
    held = (
        data.load_split(saved)
        if (saved / data.SPLIT_FILE).is_file()
        else data.ag_split(args.data_root)
    )
    held = {t: rows[: args.ag] for t, rows in held.items()}
    out.update(data.ag_retrieval(args.data_root, held))
    return out


def texts_of(all_tasks: dict[str, data.Retrieval]) -> tuple[list[str], list[str], dict]:
    """Every text to encode once, its domain, and where each task's texts sit in that list."""
    texts, domains, index = [], [], {}
    seen: dict[tuple[str, str], int] = {}
    for name, task in all_tasks.items():
        pos = {}
        for kind, items in (("q", task.queries), ("d", task.corpus)):
            for key, text in items.items():
                domain = name if kind == "q" else task.corpus_domain.get(key, name)
                where = (kind, f"{domain}:{key}")
                if where not in seen:
                    seen[where] = len(texts)
                    texts.append(text)
                    domains.append(domain)
                pos[(kind, key)] = seen[where]
        index[name] = pos
    return texts, domains, index


def load_models(args: argparse.Namespace, which: tuple[str, ...]) -> dict:
    from sentence_transformers import SentenceTransformer

    from encoders.moe.model import load_base, load_moe

    models: dict = {}
    if "base" in which:
        models["base"] = load_base()
    if "generalist" in which:
        models["generalist"] = SentenceTransformer(
            str(args.models_dir / "minilm-generalist"), device="cpu"
        )
    if "moe" in which:
        models["moe"] = load_moe(args.models_dir / "moe-minilm")
    for m in models.values():
        m.max_seq_length = args.max_seq_length
    return models


def encode(model, name: str, texts: list[str], domains: list[str]) -> np.ndarray:
    if name != "moe":
        return model.encode(texts, batch_size=32, show_progress_bar=True)
    out = np.zeros((len(texts), 384), np.float32)
    for d in sorted(set(domains)):
        rows = [i for i, x in enumerate(domains) if x == d]
        out[rows] = model.encode(
            [texts[i] for i in rows], domain=d, batch_size=32, show_progress_bar=True
        )
    return out


def cached(args, models, name: str, texts: list[str], domains: list[str]) -> np.ndarray:
    key = hashlib.sha1(json.dumps([texts, domains, args.max_seq_length]).encode()).hexdigest()[:12]
    stamp = ""
    if name != "base":  # a retrained model must not reuse old vectors
        folder = "minilm-generalist" if name == "generalist" else "moe-minilm"
        stamp = str(int((args.models_dir / folder / "model.safetensors").stat().st_mtime))
    path = args.cache_dir / f"{name}-{key}-{stamp}.npy"
    if path.is_file():
        return np.load(path)
    vectors = encode(models[name], name, texts, domains)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def router_choice(model, texts: list[str]) -> list[str]:
    """The domain the router picks for each text (its half-forward only)."""
    import torch

    from encoders.moe.train import router_features

    x = router_features(model, texts)
    with torch.no_grad():
        ids = model[0].router.linear(x).argmax(-1).tolist()
    return [model[0].domains[i] for i in ids]


def router_vectors(model, texts, domains, enforced, chosen) -> np.ndarray:
    """Router-chosen routing: enforced vectors where it agrees, re-encoded where not."""
    out = enforced.copy()
    moved = [i for i, (d, c) in enumerate(zip(domains, chosen, strict=True)) if d != c]
    if moved:
        out[moved] = encode(model, "moe", [texts[i] for i in moved], [chosen[i] for i in moved])
    return out


def scores(task: data.Retrieval, pos: dict, vectors: np.ndarray, topic: str, rng) -> dict:
    """nDCG@10, recall@1 and the pair-classifier metrics of one domain under one model."""
    qids, dids = list(task.queries), list(task.corpus)
    q = vectors[[pos[("q", k)] for k in qids]]
    d = vectors[[pos[("d", k)] for k in dids]]
    ranked = [[dids[j] for j in row] for row in rankings(q, d, 10)]
    judged = [task.qrels[k] for k in qids]
    same = [j for j, k in enumerate(dids) if task.corpus_domain.get(k, topic) == topic]
    pair_scores, labels = [], []
    for qi, k in enumerate(qids):
        relevant = {dids.index(x) for x in task.qrels[k]}
        for j in relevant:
            negative = rng.choice([x for x in same if x not in relevant])
            pair_scores += [float(q[qi] @ d[j]), float(q[qi] @ d[negative])]
            labels += [1, 0]
    s, y = np.array(pair_scores), np.array(labels)
    return {
        "ndcg@10": ndcg_at_k(ranked, judged),
        "recall@1": recall_at_1(ranked, judged),
        "F1max": f1_max(s, y),
        "ROC-AUC": roc_auc(s, y),
    }


def throughput(models: dict, texts: list[str], domains: list[str], repeats: int = 2) -> dict:
    """Texts/s of base, MoE enforced (grouped by domain) and MoE router-chosen; best of runs."""
    runs = {
        "base": lambda: models["base"].encode(texts, batch_size=32),
        "moe": lambda: encode(models["moe"], "moe", texts, domains),
        "router": lambda: models["moe"].encode(texts, batch_size=32),
    }
    best = dict.fromkeys(runs, (float("inf"), float("inf")))
    for _ in range(repeats):  # interleaved, so load from other work hits all alike
        for name, run in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            took = (time.perf_counter() - wall, time.process_time() - cpu)
            best[name] = tuple(min(a, b) for a, b in zip(best[name], took, strict=True))
    return {k: (len(texts) / w, len(texts) / c) for k, (w, c) in best.items()}


def train_missing(models_dir: Path) -> dict[str, float]:
    """Run the training command of each model not yet under `models_dir`; wall seconds each."""
    walls = {}
    for name, cmd in TRAIN.items():
        if (models_dir / name / "model.safetensors").is_file():
            continue
        cmd = [*cmd, "--models-dir", str(models_dir)]
        print("$", " ".join(["nestvec", *cmd[1:]]), flush=True)
        started = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
        walls[name] = time.perf_counter() - started
        print(f"  {walls[name] / 60:.1f} min wall", flush=True)
    return walls


def main() -> None:
    import torch

    args = parse_args()
    walls = train_missing(args.models_dir) if args.train else {}
    torch.set_num_threads(args.threads)
    all_tasks = tasks(args)
    texts, domains, index = texts_of(all_tasks)
    which = (args.only,) if args.only else MODELS[:3]
    models = load_models(args, which)
    vectors = {name: cached(args, models, name, texts, domains) for name in which}
    if args.only:
        print(f"cached {args.only}: {len(texts)} texts")
        return
    chosen = router_choice(models["moe"], texts)
    vectors["router"] = router_vectors(models["moe"], texts, domains, vectors["moe"], chosen)
    rng = random.Random(args.seed)
    table = {
        (dom, model): scores(
            all_tasks[dom], index[dom], vectors[model], dom, random.Random(rng.random())
        )
        for dom in all_tasks
        for model in MODELS
    }
    held_q = [index[d][("q", k)] for d in all_tasks for k in all_tasks[d].queries]
    held_d = [i for (kind, _), i in index[data.NEWS].items() if kind == "d"]
    held = sorted(set(held_q) | set(held_d))
    sample = random.Random(args.seed).sample(
        range(len(texts)), min(args.throughput_texts, len(texts))
    )
    speed = throughput(models, [texts[i] for i in sample], [domains[i] for i in sample])
    print_table(all_tasks, table, speed, args)
    print_goals(all_tasks, table, [domains[i] for i in held], [chosen[i] for i in held])
    print_training(args.models_dir, walls)
    png = args.png or args.models_dir.parent / "bench_moe.png"
    plot(all_tasks, table, png)
    print(f"\nwrote {png}")


def print_table(all_tasks, table, speed, args) -> None:
    names = {
        "base": "base",
        "generalist": "generalist",
        "moe": "MoE enforced",
        "router": "MoE router",
    }
    print(
        f"\nmax_seq_length {args.max_seq_length}; SciFact/NFCorpus: {args.queries} queries, "
        f"{args.corpus} docs; AG: {args.ag} held-out pairs per topic"
    )
    header = f"{'domain':<9} {'metric':<9} " + " ".join(f"{names[m]:>12}" for m in MODELS)
    print(header + "\n" + "-" * len(header))
    metrics = {
        d: (["ndcg@10", "recall@1"] if d == data.NEWS else ["ndcg@10"]) + ["F1max", "ROC-AUC"]
        for d in all_tasks
    }
    for dom in all_tasks:
        for metric in metrics[dom]:
            row = " ".join(f"{table[(dom, m)][metric]:>12.4f}" for m in MODELS)
            print(f"{dom:<9} {metric:<9} {row}")
    for metric in ("ndcg@10", "F1max", "ROC-AUC"):
        row = " ".join(
            f"{np.mean([table[(d, m)][metric] for d in all_tasks]):>12.4f}" for m in MODELS
        )
        print(f"{'average':<9} {metric:<9} {row}")
    for kind, col in (("wall", 0), ("CPU", 1)):
        enforced, routed = (speed[m][col] / speed["base"][col] for m in ("moe", "router"))
        print(
            f"throughput MoE enforced / base ({kind}): {enforced:.3f}, "
            f"MoE router / base: {routed:.3f} (target >= 0.9)"
        )


def print_goals(all_tasks, table, truth: list[str], chosen: list[str]) -> None:
    """The issue's goals, each with its figure and whether it is met."""
    from encoders.moe.train import confusion

    ndcg = {m: {d: table[(d, m)]["ndcg@10"] for d in all_tasks} for m in MODELS}
    avg = {m: float(np.mean(list(v.values()))) for m, v in ndcg.items()}
    accuracy = float(np.mean([a == b for a, b in zip(truth, chosen, strict=True)]))
    worse = [d for d in all_tasks if ndcg["moe"][d] < ndcg["base"][d]]
    rows = [
        ("enforced >= base on every domain", ", ".join(worse) or "none below", not worse),
        (
            f"enforced avg - base >= {GOAL_GAIN}",
            f"{avg['moe'] - avg['base']:+.4f}",
            avg["moe"] - avg["base"] >= GOAL_GAIN,
        ),
        (
            f"enforced avg - generalist >= {GOAL_GAIN}",
            f"{avg['moe'] - avg['generalist']:+.4f}",
            avg["moe"] - avg["generalist"] >= GOAL_GAIN,
        ),
        (f"router accuracy >= 0.95 ({len(truth)} held-out)", f"{accuracy:.4f}", accuracy >= 0.95),
    ]
    print(f"\n{'goal':<44} {'measured':>18}  met")
    for goal, measured, met in rows:
        print(f"{goal:<44} {measured:>18}  {'yes' if met else 'NO'}")
    names = list(data.DOMAINS)
    print("\nrouter confusion on held-out texts (rows: true domain, columns: chosen)")
    print(f"{'':<9}" + "".join(f"{n[:8]:>9}" for n in names))
    for name, row in zip(names, confusion(truth, chosen, names), strict=True):
        print(f"{name:<9}" + "".join(f"{x:>9}" for x in row))


def print_training(models_dir: Path, walls: dict[str, float]) -> None:
    """Wall times, steps per domain and gate movement from the training reports."""
    path = models_dir / "moe-minilm" / "train_report.json"
    if not path.is_file():
        return
    report = json.loads(path.read_text())
    for name, wall in walls.items():
        print(f"\ntrained {name} in {wall / 60:.1f} min wall")
    print(f"\nMoE config {report['config']}; steps per domain {report['steps_per_domain']}")
    print(f"seconds per step {report['seconds_per_step']}")
    for domain, gate in report.get("validation", {}).items():
        verdict = "kept" if gate["kept"] else "put back to the base's"
        scores = f"base {gate['base']}, trained {gate['trained']}"
        print(f"validation {domain}: {scores} -> expert {verdict}")
    for i, layer in enumerate(report["gate_movement"]):
        print(
            f"gates, mixture layer {i}: mean |w| {layer['mean_abs_weight']:.5f}, "
            f"mean |b - 1| {layer['mean_abs_bias_minus_1']:.5f} (both 0 at init)"
        )
    print(
        f"router: train accuracy {report['router_train_accuracy']}, held-out (train command's "
        f"sample) {report['router_held_out_accuracy']} on {report['router_held_out_texts']} texts"
    )


def plot(all_tasks, table, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    doms = list(all_tasks)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.2
    for k, model in enumerate(MODELS):
        values = [table[(d, model)]["ndcg@10"] for d in doms]
        ax.bar(np.arange(len(doms)) + (k - 1.5) * width, values, width, label=model)
    ax.set_xticks(np.arange(len(doms)), doms)
    ax.set_ylabel("nDCG@10")
    ax.set_title("moe-minilm: enforced and router-chosen routing vs base and generalist")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
