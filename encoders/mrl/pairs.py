"""Training pairs for the Matryoshka objective that never touch the evaluation judgments.

Three text domains of ../shared/data:
  scifact   title ↔ abstract, one sentence ↔ the rest of its abstract, *train*-qrels claim ↔
            cited abstract (qrels/test.tsv is never read)
  nfcorpus  *train*-qrels question ↔ judged abstract (qrels/dev.tsv is never read)
  agnews    headline ↔ description of the AG News items (the only AG News file we have)
`domain_pairs` balances them; `hold_out` leaves a domain out entirely (for the unseen-domain
report), so nothing of it, not even its corpus, reaches training.
"""

from __future__ import annotations

import csv
import html
import json
import random
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from encoders.artifacts import SHARED_DATA

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
MIN_SENTENCE_CHARS = 40
KINDS = ("title", "sentence", "claim")
DOMAINS = ("scifact", "nfcorpus", "agnews")
DATA = SHARED_DATA
DOMAIN_FOLDERS = {"scifact": "scifact", "nfcorpus": "nfcorpus", "agnews": "ag_news_test"}


@dataclass(frozen=True)
class Pair:
    anchor: str
    positive: str
    kind: str  # one of KINDS, or "question" / "headline"
    domain: str = "scifact"


def read_corpus(scifact: Path) -> dict[str, tuple[str, str]]:
    """doc id -> (title, abstract) of SciFact's corpus.jsonl."""
    with open(scifact / "corpus.jsonl", encoding="utf-8") as f:
        return {d["_id"]: (d["title"], d["text"]) for d in map(json.loads, f)}


def document_text(title: str, abstract: str) -> str:
    """How documents are encoded everywhere in this package (and in the benchmarks)."""
    return f"{title} {abstract}"


def title_pairs(corpus: dict[str, tuple[str, str]]) -> list[Pair]:
    return [Pair(t, a, "title") for t, a in corpus.values() if t and a]


def sentence_pairs(corpus: dict[str, tuple[str, str]], rng: random.Random) -> list[Pair]:
    """One random sentence of each abstract ↔ the abstract without it (the title kept)."""
    pairs = []
    for title, abstract in corpus.values():
        sentences = [s for s in SENTENCE_END.split(abstract) if s.strip()]
        usable = [i for i, s in enumerate(sentences) if len(s) >= MIN_SENTENCE_CHARS]
        if len(sentences) < 3 or not usable:
            continue
        i = rng.choice(usable)
        rest = " ".join(s for j, s in enumerate(sentences) if j != i)
        pairs.append(Pair(sentences[i], document_text(title, rest), "sentence"))
    return pairs


def claim_pairs(scifact: Path, corpus: dict[str, tuple[str, str]]) -> list[Pair]:
    """Claim ↔ cited abstract from qrels/train.tsv only (never test.tsv)."""
    with open(scifact / "queries.jsonl", encoding="utf-8") as f:
        claims = {q["_id"]: q["text"] for q in map(json.loads, f)}
    pairs = []
    with open(scifact / "qrels" / "train.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            doc = corpus.get(row["corpus-id"])
            if doc is not None and int(row["score"]) > 0 and row["query-id"] in claims:
                pairs.append(Pair(claims[row["query-id"]], document_text(*doc), "claim"))
    return pairs


def training_pairs(
    scifact: Path, kinds: tuple[str, ...] = KINDS, limit: int | None = None, seed: int = 0
) -> list[Pair]:
    """The shuffled pairs of the requested kinds (at most `limit`)."""
    rng = random.Random(seed)
    corpus = read_corpus(scifact)
    builders = {
        "title": lambda: title_pairs(corpus),
        "sentence": lambda: sentence_pairs(corpus, rng),
        "claim": lambda: claim_pairs(scifact, corpus),
    }
    # Claim pairs are kept whole under a limit: they are the only query-like anchors.
    claims = builders["claim"]() if "claim" in kinds else []
    others = [pair for kind in kinds if kind != "claim" for pair in builders[kind]()]
    rng.shuffle(others)
    if limit is not None:
        claims = claims[:limit]
        others = others[: max(0, limit - len(claims))]
    pairs = claims + others
    rng.shuffle(pairs)
    return pairs


def nfcorpus_pairs(nfcorpus: Path, rng: random.Random) -> list[Pair]:
    """Train-qrels question ↔ judged abstract, up to 2 abstracts per question (never dev.tsv)."""
    with open(nfcorpus / "corpus.jsonl", encoding="utf-8") as f:
        docs = {d["_id"]: document_text(d["title"], d["text"]) for d in map(json.loads, f)}
    with open(nfcorpus / "queries.jsonl", encoding="utf-8") as f:
        questions = {q["_id"]: q["text"] for q in map(json.loads, f)}
    judged: dict[str, list[str]] = {}
    with open(nfcorpus / "qrels" / "train.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if int(row["score"]) > 0 and row["corpus-id"] in docs and row["query-id"] in questions:
                judged.setdefault(row["query-id"], []).append(row["corpus-id"])
    pairs = []
    # ~43 abstracts per question: two random ones spread the steps over many questions.
    for qid, ids in judged.items():
        for doc_id in rng.sample(ids, min(2, len(ids))):
            pairs.append(Pair(questions[qid], docs[doc_id], "question", "nfcorpus"))
    return pairs


def agnews_pairs(ag_news: Path) -> list[Pair]:
    """Headline ↔ description of each AG News item (its escapes undone)."""
    pairs = []
    with open(ag_news / "test.csv", encoding="utf-8", newline="") as f:
        for _label, title, description in csv.reader(f):
            title, description = (
                html.unescape(t.replace("\\", " ").replace("#39;", "'")).strip()
                for t in (title, description)
            )
            if title and description:
                pairs.append(Pair(title, description, "headline", "agnews"))
    return pairs


def domain_pairs(
    data: Path = DATA,
    domains: tuple[str, ...] = DOMAINS,
    per_domain: int | None = None,
    seed: int = 0,
) -> list[Pair]:
    """Pairs of every domain in `domains`, at most `per_domain` of each (balanced), shuffled."""
    rng = random.Random(seed)
    out: list[Pair] = []
    for domain in domains:
        folder = data / DOMAIN_FOLDERS[domain]
        if domain == "scifact":
            pairs = training_pairs(folder, limit=per_domain, seed=seed)
        else:
            built = nfcorpus_pairs(folder, rng) if domain == "nfcorpus" else agnews_pairs(folder)
            rng.shuffle(built)
            pairs = built[:per_domain] if per_domain is not None else built
        out.extend(pairs)
    rng.shuffle(out)
    return out


def domain_batches(pairs: list[Pair], batch_size: int) -> list[list[Pair]]:
    """In-batch-safe batches of one domain each: negatives from the same domain are harder
    than a headline against an abstract, and every domain gets steps in proportion to its pairs."""
    by_domain: dict[str, list[Pair]] = {}
    for pair in pairs:
        by_domain.setdefault(pair.domain, []).append(pair)
    return [b for group in by_domain.values() for b in in_batch_safe(group, batch_size)]


def in_batch_safe(pairs: list[Pair], batch_size: int) -> list[list[Pair]]:
    """Batches with no positive repeated inside one (in-batch negatives must be negatives).

    A pair whose positive is already in the batch waits for the next one; the few left over at
    the end are dropped.
    """
    batches: list[list[Pair]] = []
    current: list[Pair] = []
    seen: set[str] = set()
    waiting: list[Pair] = []
    queue = deque(pairs)
    while queue:
        pair = queue.popleft()
        if pair.positive in seen:
            waiting.append(pair)
            continue
        current.append(pair)
        seen.add(pair.positive)
        if len(current) == batch_size:
            batches.append(current)
            current, seen = [], set()
            queue.extendleft(reversed(waiting))
            waiting = []
    if len(current) >= 2:
        batches.append(current)
    return batches


@dataclass(frozen=True)
class DocPairs:
    """Anchors paired with whole corpus documents, by row: the adapter's frozen-embedding form.

    Every positive is a full document as the benchmarks and the service encode it, so one
    encoding of the corpus serves training, the PCA baseline and the evaluation.
    """

    anchors: list[str]
    doc_rows: list[int]  # positive of anchors[i] is docs[doc_rows[i]]
    docs: list[str]  # document_text of every corpus document, in corpus order
    kinds: list[str]
    anchor_rows: list[int] | None = None  # anchors that are docs too: docs[anchor_rows[i]]


def doc_pairs(scifact: Path, limit: int | None = None, seed: int = 0) -> DocPairs:
    """Title ↔ its document and train-qrels claim ↔ cited document (never test qrels)."""
    corpus = read_corpus(scifact)
    row = {doc_id: i for i, doc_id in enumerate(corpus)}
    docs = [document_text(t, a) for t, a in corpus.values()]
    found = [(t, row[d], "title") for d, (t, _) in corpus.items() if t]
    with open(scifact / "queries.jsonl", encoding="utf-8") as f:
        claims = {q["_id"]: q["text"] for q in map(json.loads, f)}
    with open(scifact / "qrels" / "train.tsv", encoding="utf-8") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            if r["corpus-id"] in row and r["query-id"] in claims and int(r["score"]) > 0:
                found.append((claims[r["query-id"]], row[r["corpus-id"]], "claim"))
    random.Random(seed).shuffle(found)
    if limit is not None:  # a small run encodes only the documents its pairs use
        found = found[:limit]
        used = sorted({f[1] for f in found})
        new_row = {old: new for new, old in enumerate(used)}
        docs = [docs[i] for i in used]
        found = [(a, new_row[r], k) for a, r, k in found]
    return DocPairs([f[0] for f in found], [f[1] for f in found], docs, [f[2] for f in found])


# The sentence split of loadtest/bench_search.py (its 50k-sentence set and held-out abstracts).
BENCH_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
BENCH_MIN_CHARS, BENCH_HELD_OUT_EVERY = 20, 50


def abstract_sentences(scifact: Path, limit: int | None = None) -> tuple[list[str], list[int]]:
    """Titles and sentences of the abstracts not held out, deduplicated: (texts, abstract of each).

    The same list, in the same order, as bench_search.py's base pool, so its cached vectors fit.
    """
    texts: list[str] = []
    owner: list[int] = []
    seen: set[str] = set()
    with open(scifact / "corpus.jsonl", encoding="utf-8") as f:
        for i, line in enumerate(f):
            held = i % BENCH_HELD_OUT_EVERY == BENCH_HELD_OUT_EVERY - 1
            record = json.loads(line)
            for text in [record["title"], *BENCH_SENTENCE_END.split(record["text"])]:
                text = " ".join(text.split())
                if len(text) >= BENCH_MIN_CHARS and text not in seen:
                    seen.add(text)  # held-out sentences too: a repeat later is not reused
                    if not held:
                        texts.append(text)
                        owner.append(i)
    if limit is not None:
        texts, owner = texts[:limit], owner[:limit]
    return texts, owner


def neighbour_pairs(scifact: Path, limit: int | None = None) -> DocPairs:
    """Self-supervised: each title or sentence ↔ the next sentence of the same abstract.

    Reads neither queries nor qrels; `limit` caps the sentences (the pairs are fewer).
    """
    texts, owner = abstract_sentences(scifact, limit)
    rows = [i for i in range(len(texts) - 1) if owner[i] == owner[i + 1]]
    return DocPairs(
        anchors=[],
        doc_rows=[i + 1 for i in rows],
        docs=texts,
        kinds=["sentence"] * len(rows),
        anchor_rows=rows,
    )
