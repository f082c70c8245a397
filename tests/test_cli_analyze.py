"""`nestvec analyze` as a user runs it: a subprocess on .npy files and on a collection directory."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import DATA

from index import Catalog, CollectionConfig
from index.analysis import subspace_vectors

NESTVEC = str(Path(sys.executable).parent / "nestvec")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RANK = 6


def read_bvecs(path: Path, n: int) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.uint8)
    dim = int(raw[:4].view(np.int32)[0])
    return raw.reshape(-1, dim + 4)[:n, 4:].astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Rank-6 vectors in 32-d (600 base, 20 queries) as .npy, and a data dir with collections
    `m` (600 MNIST vectors, hnsw) and `s` (the rank-6 base, flat)."""
    root = tmp_path_factory.mktemp("cli")
    synthetic = subspace_vectors(620, 32, RANK, seed=0)
    np.save(root / "base.npy", synthetic[:600])
    np.save(root / "queries.npy", synthetic[600:])
    catalog = Catalog(root / "data")
    mnist = read_bvecs(DATA / "ann_mnist10k" / "base.bvecs", 600)
    for name, vectors, index, params in (
        ("m", mnist, "hnsw", {"M": 4}),
        ("s", synthetic[:600], "flat", {}),
    ):
        config = CollectionConfig(name, vectors.shape[1], "l2", None, index, params)
        catalog.create(config).upsert([f"{name}{i}" for i in range(600)], vectors, [{}] * 600)
    catalog.close()
    return {"base": root / "base.npy", "queries": root / "queries.npy", "data": root / "data"}


def analyze(cwd: Path, command: str, files: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    """Run `nestvec analyze COMMAND` in `cwd` (the default --out lands there); `{base}`,
    `{queries}` and `{data}` in COMMAND name the fixture's files."""
    quoted = {key: shlex.quote(str(path)) for key, path in files.items()}
    argv = [NESTVEC, "analyze", *shlex.split(command.format(**quoted))]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def outputs(out: Path, name: str) -> dict[str, Any]:
    """The JSON written, after checking the PNG beside it is one."""
    assert (out / f"{name}.png").read_bytes().startswith(PNG_SIGNATURE)
    return json.loads((out / f"{name}.json").read_text())  # type: ignore[no-any-return]


def test_id_on_vectors(files: dict[str, Path], tmp_path: Path) -> None:
    run = analyze(tmp_path, "id --vectors {base} --k 15", files)
    assert run.returncode == 0, run.stderr
    result = outputs(tmp_path / "analysis-out", "id")  # the default --out
    assert RANK - 1.5 < result["mle"] < RANK + 1.5 and result["pca99"] == RANK
    assert result["k"] == 15 and result["n"] == 600
    assert "MLE" in run.stdout and "TwoNN" in run.stdout
    assert "analysis-out/id.json" in run.stdout and "analysis-out/id.png" in run.stdout


def test_lid_on_a_collection(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "lid"
    command = "lid --data-dir {data} --collection s --lid-k 30 --sample 500 --out lid"
    run = analyze(tmp_path, command, files)
    assert run.returncode == 0, run.stderr
    result = outputs(out, "lid")
    lid, ids = np.load(out / "lid.npy"), np.load(out / "lid_ids.npy")
    assert lid.shape == ids.shape == (500,) and result["lid_k"] == 30
    assert len(set(ids.tolist())) == 500 and all(i.startswith("s") for i in ids.tolist())
    assert np.median(lid) == pytest.approx(result["lid_median"])
    assert RANK - 1.5 < result["lid_median"] < RANK + 1.5
    assert "lid/lid.npy" in run.stdout


def test_order_on_vectors_with_query_file(files: dict[str, Path], tmp_path: Path) -> None:
    run = analyze(
        tmp_path,
        "order --vectors {base} --queries {queries} --orders random lid-desc"
        " --seeds 0 --libraries hnswlib --M 4 --ef-construction 16 --out o",
        files,
    )
    assert run.returncode == 0, run.stderr
    report = outputs(tmp_path / "o", "order")
    assert report["n_queries"] == 20 and report["orders"] == ["random", "lid-desc"]
    assert report["recommended"] in report["orders"] and "recommended order" in run.stdout
    assert "HNSW builds" not in run.stderr  # the bar is drawn on a terminal only


def test_order_with_k_near_the_base_size_pads_as_faiss_does(tmp_path: Path) -> None:
    """hnswlib refuses a k it cannot fill: a traceback here, a 500 over REST."""
    np.save(tmp_path / "g.npy", np.random.default_rng(11).normal(size=(500, 32)).astype("f4"))
    argv = "order --vectors g.npy --n-queries 50 --k 450 --orders random --seeds 0"
    argv += " --ef-search 10 --libraries hnswlib faiss-hnsw --M 8 --ef-construction 32 --out o"
    run = analyze(tmp_path, argv, {})
    assert run.returncode == 0, run.stderr
    report = outputs(tmp_path / "o", "order")
    recalls = {r["library"]: r["recall_mean"] for r in report["results"]}
    assert 0 < recalls["hnswlib"] <= 1 and 0 < recalls["faiss-hnsw"] <= 1, recalls


def test_an_error_off_a_terminal_is_one_line(tmp_path: Path) -> None:
    """The bars went to a piped stderr too, and the error line was glued to one."""
    bad = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    bad[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    argv = [sys.executable, "-m", "service.cli", "analyze", "id", "--vectors", "nan.npy"]
    run = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("nestvec analyze id: error:"), (
        run.stderr
    )


def test_recall_on_a_collection(files: dict[str, Path], tmp_path: Path) -> None:
    snapshot = files["data"] / "collections" / "m" / "index" / "index.json"
    before = snapshot.stat().st_mtime_ns
    run = analyze(
        tmp_path,
        "recall --data-dir {data} --collection m --n-queries 30 --target-recall 0.9"
        """ --params '{{"ef": 10}}'""",
        files,
    )
    assert run.returncode == 0, run.stderr
    result = outputs(tmp_path / "analysis-out", "recall")
    assert result["queries"] == 30 and len(result["query_ids"]) == 30
    assert result["params"] == {"ef": 10} and 0 < result["recall"] <= 1
    assert result["autotune"]["knob"] == "ef" and result["autotune"]["recall"] >= 0.9
    assert "recall@10 =" in run.stdout and "autotune: ef=" in run.stdout
    assert snapshot.stat().st_mtime_ns == before  # the data directory was only read


def test_nprobe_autotune_reports_the_smallest_that_reaches_the_target(tmp_path: Path) -> None:
    """Its values started at 10: nprobe=10 was reported where 4 reached the target."""
    catalog = Catalog(tmp_path / "data")
    vectors = np.random.default_rng(2).normal(size=(2000, 16)).astype(np.float32)
    for name, nlist in (("ivf", 16), ("untrained", 128)):  # 128 lists want 4,992 points
        config = CollectionConfig(name, 16, "l2", None, "ivf", {"nlist": nlist})
        catalog.create(config).upsert([str(i) for i in range(2000)], vectors, [{}] * 2000)
    catalog.close()
    data = {"data": tmp_path / "data"}
    run = analyze(tmp_path, "recall --data-dir {data} --collection ivf --target-recall 0.9", data)
    assert run.returncode == 0, run.stderr
    tuned = outputs(tmp_path / "analysis-out", "recall")["autotune"]
    tried = [row["value"] for row in tuned["table"]]
    assert tried[0] == 1 and tuned["reached"] and tuned["value"] == tried[-1] > 1, tuned
    assert all(row["recall"] < 0.9 for row in tuned["table"][:-1]), tuned
    argv = "recall --data-dir {data} --collection untrained --target-recall 0.9 --out u"
    report = outputs(tmp_path / "u", "recall") if analyze(tmp_path, argv, data) else {}
    assert report["autotune"] is None and "not trained" in report["note"], report


BAD = [
    ("order --vectors {base} --orders bogus", "orders: unknown order(s) ['bogus']; allowed:"),
    ("recall --data-dir {data} --collection nope", "collection 'nope' does not exist"),
    ("id --vectors {base} --k 600", "k=600 needs at least 601 points"),  # n = 600
    # named as the flags (they said `sample:` and `lid_k:`), a missing file too (a bare Errno)
    ("id --vectors {base} --sample 1", "--sample: Input should be greater than or equal to 2"),
    ("lid --vectors {base} --lid-k 0", "--lid-k: Input should be greater than or equal to 2"),
    ("lid --vectors nope.npy", "--vectors nope.npy: No such file or directory"),
    ("recall --data-dir {data} --collection m --params '{{oops'", "Expecting property name"),
    ("recall --vectors {base}", "the following arguments are required: --collection"),
    # a count of held-out queries: it said `--queries:`, the flag of the query file
    ("recall --data-dir {data} --collection m --n-queries 0", "--n-queries: "),
]


@pytest.mark.parametrize(("command", "message"), BAD)
def test_bad_input_exits_non_zero_with_a_message(
    files: dict[str, Path], tmp_path: Path, command: str, message: str
) -> None:
    run = analyze(tmp_path, command, files)
    assert run.returncode == 2 and message in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def test_messages_say_what_is_wrong_with_the_files_given(tmp_path: Path) -> None:
    """They said "category_field is needed" (it was given), "got (300, 8)" of a complex array,
    "base holds NaN" without the file, and "[Errno 17] File exists"."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "v.npy", rng.normal(size=(300, 8)).astype("f4"))
    np.save(tmp_path / "c.npy", rng.normal(size=(300, 8)) * 1j)
    holed = rng.normal(size=(300, 8))
    holed[3, 2] = np.nan
    np.save(tmp_path / "nan.npy", holed)
    (tmp_path / "afile").write_text("")
    np.save(tmp_path / "o.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    np.save(tmp_path / "e.npy", np.zeros((0, 8), "f4"))
    for command, message in (
        ("id --vectors o.npy", "--vectors o.npy: need a 2-D array of real numbers, got objects"),
        ("order --vectors e.npy", "--vectors e.npy: the array is empty (0, 8)"),
        ("order --vectors v.npy --orders category --category-field tag", "analyse a collection"),
        ("id --vectors c.npy", "real numbers, got a 2-D array of complex128"),
        ("id --vectors nan.npy", "--vectors nan.npy: row 3 holds NaN"),
        ("id --vectors v.npy --out afile", "--out afile: a file is there"),
    ):
        run = analyze(tmp_path, command, {})
        assert run.returncode == 2 and message in run.stderr, run.stderr


def test_a_text_file_named_npy_is_called_what_it_is(files: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "vectors.npy").write_text("0.1,0.2\n0.3,0.4\n")
    run = analyze(tmp_path, "id --vectors vectors.npy", files)
    assert run.returncode == 2 and "not a .npy file" in run.stderr, run.stderr
    assert "pickled" not in run.stderr and "Traceback" not in run.stderr


def test_duplicates_count_once_in_the_lid_summary_and_lid_k_is_named(tmp_path: Path) -> None:
    """A point repeated 500 times weighed 500 in the LID mean and median (MLE and TwoNN count
    it once), and too large a --lid-k was blamed on k."""
    rng = np.random.default_rng(0)
    base = subspace_vectors(400, 16, 4, seed=1)
    np.save(tmp_path / "once.npy", base)
    np.save(tmp_path / "dup.npy", np.vstack([base, np.repeat(base[:1], 300, axis=0)]))
    reports = {}
    for name in ("once", "dup"):
        run = analyze(tmp_path, f"id --vectors {name}.npy --out {name} --lid-k 30", {})
        assert run.returncode == 0, run.stderr
        reports[name] = outputs(tmp_path / name, "id")
    assert reports["dup"]["n_distinct"] == 400
    for key in ("lid_mean", "lid_median", "mle"):
        assert reports["dup"][key] == pytest.approx(reports["once"][key], rel=1e-5), key
    np.save(tmp_path / "few.npy", np.repeat(rng.normal(size=(3, 8)), 5, axis=0))
    run = analyze(tmp_path, "id --vectors few.npy --k 2 --lid-k 5", {})
    assert run.returncode == 2 and "lid_k=5 needs at least 6 distinct points" in run.stderr
    assert "use lid_k <= 2" in run.stderr and "k=5" not in run.stderr.replace("lid_k=5", "")


def test_recall_beside_a_server_says_it_measures_the_saved_index(
    files: dict[str, Path], tmp_path: Path
) -> None:
    """It measured the last saved index (or one rebuilt from the vectors) without a word, where
    the server searched another (recall 0.200 here, 0.212 served)."""
    from index.catalog import DataDirLock

    argv = "recall --data-dir {data} --collection m --n-queries 20 --out r"
    alone = analyze(tmp_path, argv, files)
    assert alone.returncode == 0 and "note: a server holds" not in alone.stderr, alone.stderr
    held = DataDirLock(files["data"])  # what a running server holds
    try:
        beside = analyze(tmp_path, argv, files)
    finally:
        held.release()
    assert beside.returncode == 0, beside.stderr
    assert "note: a server holds" in beside.stderr
    assert "POST /v1/collections/m/analysis/recall" in beside.stderr


def test_out_is_a_folder_of_the_users_whose_files_are_kept(
    files: dict[str, Path], tmp_path: Path
) -> None:
    """The server's prune of old plots ran on --out: past 100, the folder's own older PNGs went.
    A link named id.json was written through (its target overwritten); `--out ""` wrote into
    the working folder."""
    out = tmp_path / "pictures"
    out.mkdir()
    for i in range(105):
        (out / f"holiday{i}.png").write_bytes(b"mine")
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (out / "id.json").symlink_to(target)
    run = analyze(tmp_path, f"id --vectors {{base}} --k 15 --out {out}", files)
    assert run.returncode == 0, run.stderr
    assert all((out / f"holiday{i}.png").read_bytes() == b"mine" for i in range(105))
    assert target.read_text() == "keep me" and not (out / "id.json").is_symlink()
    assert json.loads((out / "id.json").read_text())["k"] == 15
    empty = analyze(tmp_path, "id --vectors {base} --out ''", files)
    assert empty.returncode == 2 and "give a folder" in empty.stderr, empty.stderr
    assert not (tmp_path / "id.json").exists()
