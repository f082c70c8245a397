"""How separable the MoE's domains are before any training: a logistic regression on base
MiniLM's sentence vectors, fitted on the router's training texts and scored on its held-out ones,
with AG News's four topics as four domains and as one `news` domain (the choice behind
encoders/moe/model.py DOMAINS). Prints accuracy per C and the confusion matrix. About 6 min.

    .venv/bin/python loadtest/moe_router_probe.py [--per-domain 1500]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from encoders.moe import data  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-domain", type=int, default=1500)
    parser.add_argument(
        "--data-root", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import confusion_matrix

    from encoders.minilm import minilm_path

    held = data.ag_split(args.data_root)
    fit = samples(args.data_root, held, train=True, per_domain=args.per_domain)
    scored = samples(args.data_root, held, train=False, per_domain=400)
    model = SentenceTransformer(minilm_path(), device="cpu")
    model.max_seq_length = 256
    x_fit, x_scored = (
        model.encode([t for t, _ in rows], batch_size=64, normalize_embeddings=True)
        for rows in (fit, scored)
    )
    for name, label in (
        ("AG News as 4 topics", lambda d: d),
        ("AG News as 1 domain", lambda d: data.NEWS if d in data.AG_TOPICS else d),
    ):
        y_fit = [label(d) for _, d in fit]
        y_scored = [label(d) for _, d in scored]
        for c in (1, 10, 100):
            clf = LogisticRegression(C=c, max_iter=3000).fit(x_fit, y_fit)
            print(f"{name}: C={c} held-out accuracy {clf.score(x_scored, y_scored):.4f}")
        print(list(clf.classes_))
        print(confusion_matrix(y_scored, clf.predict(x_scored), labels=clf.classes_))
    return 0


def samples(root: Path, held: dict, train: bool, per_domain: int) -> list[tuple[str, str]]:
    """The router's texts of SciFact and NFCorpus, and as many of each AG News topic, labelled
    by topic (titles and descriptions of that side of the split)."""
    seed = 0 if train else 1
    out = [
        (t, d)
        for t, d in data.router_texts(root, held, train=train, per_domain=per_domain, seed=seed)
        if d != data.NEWS
    ]
    for topic, pairs in data.ag_pairs(root, held, train=train).items():
        texts = [t for pair in pairs for t in pair]
        random.Random(f"{seed}:{topic}").shuffle(texts)
        out += [(t, topic) for t in texts[:per_domain]]
    return out


if __name__ == "__main__":
    raise SystemExit(main())
