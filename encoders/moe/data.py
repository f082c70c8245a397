"""Domains, training pairs and held-out evaluation sets for the MoE encoder, from ../shared/data.

Domains: `scifact`, `nfcorpus` and `news` (AG News, all four topics). Pairs: SciFact train qrels
(claim <-> cited abstract) plus title <-> abstract for every abstract; NFCorpus train qrels
(question <-> abstract); AG News title <-> description on a fixed, seeded, per-topic 80/20 split
whose held-out rows are saved with the model.
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path

from encoders.moe.model import DOMAINS  # noqa: F401 (training code reads them here)

AG_TOPICS = ("world", "sports", "business", "scitech")  # class_index 1..4 in ag_news_test/test.csv
NEWS = "news"  # the domain of every AG News topic
SPLIT_FILE = "ag_news_split.json"

Pair = tuple[str, str]


@dataclass
class Retrieval:
    """One domain's retrieval task: queries, a corpus and graded judgments."""

    queries: dict[str, str]
    corpus: dict[str, str]
    qrels: dict[str, dict[str, int]]
    corpus_domain: dict[str, str] = field(default_factory=dict)  # doc id -> its domain


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _qrels(path: Path) -> dict[str, dict[str, int]]:
    judged: dict[str, dict[str, int]] = defaultdict(dict)
    with path.open(encoding="utf-8") as f:
        next(f)
        for line in f:
            qid, doc, score = line.rstrip("\n").split("\t")
            if int(score) > 0:
                judged[qid][doc] = int(score)
    return dict(judged)


def beir(root: Path, split: str) -> Retrieval:
    """A BEIR-layout folder: docs are `title + " " + text`, as BEIR evaluates them."""
    corpus = {d["_id"]: f"{d['title']} {d['text']}".strip() for d in _jsonl(root / "corpus.jsonl")}
    qrels = _qrels(root / "qrels" / f"{split}.tsv")
    queries = {q["_id"]: q["text"] for q in _jsonl(root / "queries.jsonl") if q["_id"] in qrels}
    return Retrieval(queries, corpus, qrels)


def ag_news(data: Path) -> dict[str, list[Pair]]:
    """AG News (title, description) pairs per topic, in file order; HTML escapes undone."""
    import html

    by_topic: dict[str, list[Pair]] = defaultdict(list)
    with (data / "ag_news_test" / "test.csv").open(encoding="utf-8", newline="") as f:
        for label, title, description in csv.reader(f):
            clean = [
                html.unescape(t.replace("\\", " ").replace("#39;", "'"))
                for t in (title, description)
            ]
            by_topic[AG_TOPICS[int(label) - 1]].append((clean[0], clean[1]))
    return dict(by_topic)


def ag_split(data: Path, seed: int = 0, train_share: float = 0.8) -> dict[str, list[int]]:
    """Held-out row numbers (within each topic) of the seeded per-topic 80/20 split."""
    held: dict[str, list[int]] = {}
    for topic, pairs in ag_news(data).items():
        rows = list(range(len(pairs)))
        random.Random(f"{seed}:{topic}").shuffle(rows)
        held[topic] = sorted(rows[int(len(rows) * train_share) :])
    return held


def save_split(held: dict[str, list[int]], out: Path, seed: int) -> None:
    (out / SPLIT_FILE).write_text(json.dumps({"seed": seed, "held_out": held}))


def load_split(model_dir: Path) -> dict[str, list[int]]:
    return {
        k: list(v) for k, v in json.loads((model_dir / SPLIT_FILE).read_text())["held_out"].items()
    }


def ag_pairs(data: Path, held: dict[str, list[int]], *, train: bool) -> dict[str, list[Pair]]:
    """Per-topic pairs of the training side (train=True) or the held-out side of the split."""
    out = {}
    for topic, pairs in ag_news(data).items():
        hold = set(held[topic])
        out[topic] = [p for i, p in enumerate(pairs) if (i in hold) != train]
    return out


def training_pairs(data: Path, held: dict[str, list[int]]) -> dict[str, list[Pair]]:
    """(anchor, positive) pairs per domain, nothing from an evaluation split."""
    pairs = _asked(data, held)
    pairs["scifact"] += _titles(data)
    return pairs


def _titles(data: Path) -> list[Pair]:
    """SciFact title <-> abstract for every abstract (no judgments: the corpus itself)."""
    docs = _jsonl(data / "scifact" / "corpus.jsonl")
    return [(d["title"], d["text"]) for d in docs if d["title"]]


def _asked(data: Path, held: dict[str, list[int]]) -> dict[str, list[Pair]]:
    """Each domain's question-like pairs: SciFact and NFCorpus train qrels, AG training side."""
    pairs: dict[str, list[Pair]] = {}
    for name in ("scifact", "nfcorpus"):
        task = beir(data / name, "train")
        judged = task.qrels.items()
        pairs[name] = [(task.queries[q], task.corpus[d]) for q, ds in judged for d in ds]
    pairs[NEWS] = _news(ag_pairs(data, held, train=True))
    return pairs


def split_validation(
    pairs: dict[str, list[Pair]], queries: int, docs: int, seed: int
) -> tuple[dict[str, list[Pair]], dict[str, Retrieval]]:
    """Hold `queries` anchors of each domain's pairs out of training (at most a fifth of them):
    the pairs left, and per domain the retrieval task the held-out anchors make (their positives
    first, then other positives of the domain, `docs` documents in all)."""
    rng = random.Random(f"validation:{seed}")
    kept: dict[str, list[Pair]] = {}
    tasks: dict[str, Retrieval] = {}
    for domain, pool in pairs.items():
        anchors = sorted({a for a, _ in pool})
        chosen = set(rng.sample(anchors, min(queries, len(anchors) // 5)))
        kept[domain] = [(a, p) for a, p in pool if a not in chosen]
        judged: dict[str, set[str]] = defaultdict(set)
        for a, p in pool:
            if a in chosen:
                judged[a].add(p)
        # each query's positives in turns (its first, then every second...), so each keeps some
        turns = zip_longest(*(sorted(judged[a]) for a in sorted(judged)))
        needed = list(dict.fromkeys(p for turn in turns for p in turn if p is not None))
        others = sorted({p for _, p in kept[domain]} - set(needed))
        rng.shuffle(others)
        texts = (needed + others)[:docs]
        doc_id = {text: f"d{i}" for i, text in enumerate(texts)}
        qrels = {a: {doc_id[p]: 1 for p in ps if p in doc_id} for a, ps in judged.items()}
        asked = {f"q{i}": a for i, a in enumerate(sorted(a for a, r in qrels.items() if r))}
        tasks[domain] = Retrieval(
            asked,
            {i: text for text, i in doc_id.items()},
            {q: qrels[a] for q, a in asked.items()},
            dict.fromkeys(doc_id.values(), domain),
        )
    return kept, tasks


def training_split(
    data: Path, held: dict[str, list[int]], queries: int, docs: int, seed: int
) -> tuple[dict[str, list[Pair]], dict[str, Retrieval]]:
    """`training_pairs` less each domain's validation queries, and the validation tasks."""
    pairs, tasks = split_validation(_asked(data, held), queries, docs, seed)
    pairs["scifact"] += _titles(data)
    return pairs, tasks


def _news(by_topic: dict[str, list[Pair]]) -> list[Pair]:
    """The topics' pairs interleaved (world, sports, business, scitech, world...): one domain."""
    rounds = zip(*by_topic.values(), strict=False)  # equal sizes but for a remainder row
    return [pair for pairs in rounds for pair in pairs]


def ag_retrieval(data: Path, held: dict[str, list[int]]) -> dict[str, Retrieval]:
    """Held-out title -> its description, against all held-out descriptions (every topic)."""
    held_pairs = ag_pairs(data, held, train=False)
    pairs = {f"{t}-{i}": pair for t, ps in held_pairs.items() for i, pair in enumerate(ps)}
    return {
        NEWS: Retrieval(
            {key: title for key, (title, _) in pairs.items()},
            {key: desc for key, (_, desc) in pairs.items()},
            {key: {key: 1} for key in pairs},
            dict.fromkeys(pairs, NEWS),
        )
    }


def router_texts(
    data: Path, held: dict[str, list[int]], *, train: bool, per_domain: int, seed: int = 0
) -> list[tuple[str, str]]:
    """(text, domain) samples for the router: queries and documents of each domain.

    Held-out side: SciFact test claims, NFCorpus dev questions, AG held-out titles and
    descriptions. Training side: the rest (train claims/questions, corpus documents, AG train).
    """
    rng = random.Random(seed)
    by_domain: dict[str, list[str]] = {}
    for name, split in (
        ("scifact", "train" if train else "test"),
        ("nfcorpus", "train" if train else "dev"),
    ):
        task = beir(data / name, split)
        texts = list(task.queries.values())
        if train:
            texts += list(task.corpus.values())
        by_domain[name] = texts
    by_domain[NEWS] = [t for pair in _news(ag_pairs(data, held, train=train)) for t in pair]
    out = []
    for domain, texts in by_domain.items():
        rng.shuffle(texts)
        out += [(t, domain) for t in texts[:per_domain]]
    return out
