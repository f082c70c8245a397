"""`nestvec analyze {id,lid,order,recall}`: the REST diagnostics offline, with progress bars.

Input is a collection opened straight from its data directory (no server; nothing is written
there) or, for id/lid/order, a .npy matrix. Output goes to --out: JSON, PNG (and for `lid` the
per-point LID as .npy); a short summary is printed."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from diagnostics import reports as analysis
from diagnostics.data import held_out, label_ids
from diagnostics.plots import write_replacing
from diagnostics.requests import InsertionOrderRequest, IntrinsicDimensionRequest, RecallRequest
from index import Catalog, Collection, IndexError_
from index.analysis.knn import Progress, normalize_rows
from index.catalog import DataDirLock
from index.registry import validate_params
from nestvec.fields import field_path
from service.commands.analyze_args import (
    add_id_args,
    add_order_args,
    add_recall_args,
    add_source,
    flag_of,
)
from service.settings import Settings


@dataclass(frozen=True)
class Source:
    """What to analyse: a collection, or vectors read from a file."""

    label: str
    collection: Collection | None = None
    vectors: np.ndarray | None = None


def progress_bar(desc: str, unit: str) -> Progress:
    """A `progress(done, total)` callback drawing a tqdm bar on stderr (shown from now on) when
    stderr is a terminal: piped into a log, bars glued themselves to the one-line errors."""
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit=unit, file=sys.stderr, disable=not sys.stderr.isatty())

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def _load_npy(path: str, field: str) -> np.ndarray:
    try:
        with open(path, "rb") as f:
            if f.read(6) != b"\x93NUMPY":  # else np.load's guess: "contains pickled data"
                raise ValueError(f"{field} {path}: not a .npy file (save one with numpy.save)")
    except OSError as exc:  # a bare "[Errno 2] ..." named no option
        raise ValueError(f"{field} {path}: {exc.strerror}") from None
    try:
        matrix = np.load(path, allow_pickle=False)
    except ValueError:  # numpy's "Object arrays cannot be loaded ..." named no file
        raise ValueError(f"{field} {path}: need a 2-D array of real numbers, got objects") from None
    if matrix.ndim != 2 or matrix.dtype.kind not in "fiu":  # a complex one is 2-D too
        got = f"a {matrix.ndim}-D array of {matrix.dtype} {matrix.shape}"
        raise ValueError(f"{field} {path}: need a 2-D array of real numbers, got {got}")
    if not matrix.size:
        raise ValueError(f"{field} {path}: the array is empty {matrix.shape}")
    if matrix.dtype.kind == "f" and not np.isfinite(matrix).all():  # named: "base holds NaN"
        row = int(np.flatnonzero(~np.isfinite(matrix).all(axis=1))[0])
        raise ValueError(f"{field} {path}: row {row} holds NaN or infinite values")
    return np.ascontiguousarray(matrix, dtype=np.float32)


@contextmanager
def open_source(args: argparse.Namespace) -> Iterator[Source]:
    """The --vectors file, or the --collection of --data-dir opened read-only (stores closed)."""
    if getattr(args, "vectors", None):
        yield Source(Path(args.vectors).name, vectors=_load_npy(args.vectors, "--vectors"))
        return
    data_dir = Path(args.data_dir) if args.data_dir else Settings().data_dir
    if data_dir.exists() and not data_dir.is_dir():
        raise NotADirectoryError(f"data directory {str(data_dir)!r} is a file, not a directory")
    if not (data_dir / "collections").is_dir():
        raise FileNotFoundError(f"no collections under data directory {str(data_dir)!r}")
    if args.analysis == "recall" and DataDirLock.held(data_dir):  # its index is in its memory
        note = f"a server holds {data_dir}: this run searches the index as last saved, which "
        served = f"POST /v1/collections/{args.collection}/analysis/recall measures the served one"
        print(f"nestvec analyze recall: note: {note}can differ; {served}", file=sys.stderr)
    catalog = Catalog(data_dir)
    try:
        yield Source(f"collection {args.collection!r}", collection=catalog.get(args.collection))
    finally:
        for name in catalog.names():  # no snapshot writes: the data directory stays untouched
            catalog.get(name).store.close()


def _sample_rows(n: int, size: int, seed: int) -> np.ndarray:
    """At most `size` of `n` row numbers, drawn as `analysis_data.sample_vectors` draws points."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def _request(model: type[Any], args: argparse.Namespace, **extra: Any) -> Any:
    """The REST request model from the flags given (same validation as REST); `extra` wins."""
    given = {f: getattr(args, f) for f in model.model_fields if getattr(args, f, None) is not None}
    return model(**(given | extra))


# id and lid ---------------------------------------------------------------------------------
def _id_run(args: argparse.Namespace, source: Source, out: Path) -> dict[str, Any]:
    req = _request(IntrinsicDimensionRequest, args)
    png = out / f"{args.analysis}.png"
    bars = (progress_bar("kNN for estimates", "pt"), progress_bar("kNN for LID", "pt"))
    if source.collection is not None:
        result, labels, lid = analysis.intrinsic_dimension(source.collection, req, png, bars)
        id_of = label_ids(source.collection)
        ids = np.array([id_of.get(int(x), "") for x in labels])  # whose LID each entry is
    else:
        assert source.vectors is not None
        ids = _sample_rows(len(source.vectors), req.sample, req.seed)  # rows of --vectors
        vectors = source.vectors[ids]
        vectors = normalize_rows(vectors) if args.metric == "cosine" else vectors
        result, lid = analysis.intrinsic_dimension_of(
            vectors, png, k=req.k, lid_k=req.lid_k, title=source.label, progress=bars
        )
    if args.analysis == "lid":
        np.save(out / "lid.npy", lid)
        np.save(out / "lid_ids.npy", ids)
        result |= {"lid_file": str(out / "lid.npy"), "lid_ids_file": str(out / "lid_ids.npy")}
    return result


def _id_summary(r: dict[str, Any]) -> str:
    def num(key: str) -> str:
        return "n/a" if r[key] is None else f"{r[key]:.1f}"

    return (
        f"intrinsic dimension (n={r['n']:,}, d={r['dim']}): MLE {num('mle')}, TwoNN "
        f"{num('twonn')}, PCA-99 {r['pca99']}, pointwise LID mean {num('lid_mean')} / "
        f"median {num('lid_median')} (k={r['k']}, lid_k={r['lid_k']})"
    )


# order --------------------------------------------------------------------------------------
def _order_run(args: argparse.Namespace, source: Source, out: Path) -> dict[str, Any]:
    queries = _load_npy(args.query_file, "--queries") if args.query_file else None
    bar = progress_bar("HNSW builds", "build")
    if source.collection is not None:
        extra = {} if queries is None else {"query_vectors": queries.tolist()}
        req = _request(InsertionOrderRequest, args, **extra)
        return analysis.insertion_order_report(source.collection, req, out / "order.png", bar)
    assert source.vectors is not None
    req = _request(InsertionOrderRequest, args)
    base = source.vectors[_sample_rows(len(source.vectors), req.sample, req.seed)]
    if queries is None:
        held = held_out(len(base), req.queries, analysis.DEFAULTS["order_queries"], req.seed)
        base, queries = base[~held], base[held]
    return analysis.order_report_of(
        base, queries, req, out / "order.png", metric=args.metric, label=source.label, progress=bar
    )


def _order_summary(r: dict[str, Any]) -> str:
    lines = [
        f"insertion order (n={r['n']:,}, d={r['dim']}, {r['n_queries']} queries, "
        f"recall@{r['k']} at ef={r['ef_search'][0]}, mean over seeds {r['seeds']}):"
    ]
    low = r["ef_search"][0]
    for res in (x for x in r["results"] if x["ef"] == low):
        lines.append(f"  {res['library']:<12} {res['order']:<20} {res['recall_mean']:.4f}")
    return "\n".join([*lines, f"recommended order: {r['recommended']}"])


# recall -------------------------------------------------------------------------------------
def _recall_run(args: argparse.Namespace, source: Source, out: Path) -> dict[str, Any]:
    assert source.collection is not None
    extra: dict[str, Any] = {}
    if args.params:
        extra["params"] = search_params(args.params, source.collection)
    if args.query_file:
        extra["query_vectors"] = _load_npy(args.query_file, "--queries").tolist()
    req = _request(RecallRequest, args, **extra)
    bar = progress_bar("exact kNN", "query")
    return analysis.recall_report(source.collection, req, out / "recall.png", bar)


def search_params(text: str, collection: Collection) -> dict[str, Any]:
    """--params (JSON or K=V pairs) checked against the collection's search knobs; errors name
    the flag and list the valid keys."""
    from ingest.cli import parse_params

    query = collection.backend.Query
    keys = ", ".join(query.model_fields)
    valid = f"valid keys for a {collection.config.index_type} index: {keys}"
    try:
        params = parse_params(text) or {}
    except ValueError as exc:  # JSON errors included
        reason = str(exc).removeprefix("--params ")
        raise ValueError(f"--params: {reason}; {valid}") from None
    unknown = [key for key in params if key not in query.model_fields]
    if unknown:
        raise ValueError(f"--params: unknown key {unknown[0]!r}; {valid}")
    try:
        validate_params(query, params, "params")
    except IndexError_ as exc:
        raise ValueError(f"--params: {getattr(exc, 'message', exc)}; {valid}") from None
    return params


def _recall_summary(r: dict[str, Any]) -> str:
    line = f"recall@{r['k']} = {r['recall']:.4f} over {r['queries']} queries (params {r['params']})"
    tuned = r["autotune"]
    if tuned:
        verdict = "reaches" if tuned["reached"] else "is the best but misses"
        line += (
            f"\nautotune: {tuned['knob']}={tuned['value']} {verdict} the target "
            f"{tuned['target_recall']} (recall {tuned['recall']:.4f}, {tuned['qps']:,.0f} q/s)"
        )
    return line + (f"\nnote: {r['note']}" if r["note"] else "")


# the command --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Analysis:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Source, Path], dict[str, Any]]
    summary: Callable[[dict[str, Any]], str]
    takes_vectors: bool = True


ANALYSES: dict[str, Analysis] = {
    "id": Analysis(
        "intrinsic dimension: MLE, TwoNN, PCA-99, LID", add_id_args, _id_run, _id_summary
    ),
    "lid": Analysis("pointwise LID as .npy, and its histogram", add_id_args, _id_run, _id_summary),
    "order": Analysis("HNSW recall by insertion order", add_order_args, _order_run, _order_summary),
    "recall": Analysis(
        "recall@k of a collection's search vs exact kNN; ef/nprobe autotune",
        *(add_recall_args, _recall_run, _recall_summary, False),
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One sub-subcommand per analysis, each with its input, output and knobs."""
    sub = parser.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")
    for name, chosen in ANALYSES.items():
        command = sub.add_parser(name, help=chosen.help, description=chosen.help)
        add_source(command, chosen.takes_vectors)
        chosen.add_arguments(command)


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{flag_of(field_path(first['loc'])) or 'arguments'}: {first['msg']}"
    field = getattr(exc, "field", None)
    return f"{flag_of(field)}: {exc}" if field else str(exc)


def run(args: argparse.Namespace) -> int:
    """Run one analysis; 0 with a summary and the files written, 2 with a message on bad input."""
    chosen, out = ANALYSES[args.analysis], Path(args.out)
    json_path = out / f"{args.analysis}.json"
    try:
        if not str(args.out).strip():  # Path("") is the working folder: it was written there
            raise ValueError("--out '': give a folder for the results")
        if out.exists() and not out.is_dir():  # it said "[Errno 17] File exists"
            raise ValueError(f"--out {out}: a file is there; give a folder for the results")
        out.mkdir(parents=True, exist_ok=True)
        with open_source(args) as source:
            result = chosen.run(args, source, out)
        text = json.dumps(result, indent=2, default=str) + "\n"  # replaced, as the PNG: a link
        write_replacing(lambda tmp: tmp.write_text(text), json_path)  # there was written through
    except (IndexError_, ValueError, OSError) as exc:
        print(f"nestvec analyze {args.analysis}: error: {_message(exc)}", file=sys.stderr)
        return 2
    print(chosen.summary(result))
    print(f"JSON: {json_path}\nPNG:  {result['plot']}")
    if "lid_file" in result:
        print(f"LID:  {result['lid_file']}")
    return 0
