"""Settings from the environment as users write them, and user errors as one line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from support import LiveServer, free_port

from service.settings import Settings

NESTVEC = str(Path(sys.executable).parent / "nestvec")


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        ("secret", ["secret"]),
        ("one, two,three", ["one", "two", "three"]),
        ('["one", "two,with comma"]', ["one", "two,with comma"]),
        ("", []),
    ],
)
def test_key_lists_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, keys: list[str]
) -> None:
    for name in ("NESTVEC_API_KEYS", "NESTVEC_PRELOAD_ENCODERS"):
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.api_keys == settings.preload_encoders == keys
    monkeypatch.delenv("NESTVEC_API_KEYS")  # a key has one access level
    monkeypatch.setenv("NESTVEC_READ_ONLY_KEYS", value)
    assert Settings().read_only_keys == keys


@pytest.mark.parametrize("key", ["ключ", "tab\tin"])
def test_a_key_no_client_can_send_stops_the_start(tmp_path: Path, key: str) -> None:
    # a non-ASCII key was accepted, then no header could carry it: every request got 401
    done = run_cli(
        ["serve", "--data-dir", str(tmp_path / "data")], {"NESTVEC_API_KEYS": key}, tmp_path
    )
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "NESTVEC_API_KEYS" in lines[0] and "ASCII" in lines[0], lines
    assert key.strip() not in done.stderr  # keys are never echoed


def test_plain_api_key_serves(tmp_path: Path) -> None:
    env = {"NESTVEC_API_KEYS": "secret", "NESTVEC_PRELOAD_ENCODERS": ""}  # empty: none, fast start
    server = LiveServer(tmp_path / "data", env=env).start(timeout=60)
    try:
        assert httpx.get(server.url + "/healthz").status_code == 200
        auth = {"Authorization": "Bearer secret"}
        assert httpx.get(server.url + "/v1/collections", headers=auth).status_code == 200
        r = httpx.get(server.url + "/v1/collections")
        assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    finally:
        server.stop()


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "NESTVEC_PRELOAD_ENCODERS": "", **env}
    return subprocess.run(
        [NESTVEC, *args], env=full_env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("variable", "value", "expects"),
    [
        ("NESTVEC_PORT", "abc", "integer"),
        ("NESTVEC_MAX_K", "-1", "greater than or equal to 1"),
        ("NESTVEC_ENCODER_OPTIONS", "notjson", "JSON object"),
        ("NESTVEC_LOG_LEVEL", "loud", "'info'"),
        ("NESTVEC_API_KEYS", '["unterminated', "JSON list"),
        ("NESTVEC_PRELOAD_ENCODERS", "nosuch", "unknown encoder 'nosuch'"),
        ("NESTVEC_DEFAULT_ENCODER", "nosuch", "unknown encoder 'nosuch'"),
        ("NESTVEC_ENCODER_OPTIONS", '{"nosuch": {}}', "unknown encoder 'nosuch'"),
        ("NESTVEC_ENCODER_OPTIONS", '{"minilm": {"backend": "gpu"}}', "'gpu' is not one of"),
        ("NESTVEC_ENCODER_OPTIONS", '{"minilm": {"precision": "fp8"}}', "'fp8' is not one of"),
        ("NESTVEC_ENCODER_OPTIONS", '{"fake": {"bogus": 1}}', "no option 'bogus'"),
        ("NESTVEC_ENCODER_OPTIONS", '{"minilm": "torch"}', "valid dictionary"),
        # an empty key (an unset variable in a template) let an empty `api-key:` header write
        ("NESTVEC_API_KEYS", '["", "k1"]', "non-empty"),
        ("NESTVEC_READ_ONLY_KEYS", '[""]', "non-empty"),
        # separators alone, "${K1},${K2}" unset: the empties were dropped and auth was off
        ("NESTVEC_API_KEYS", ",", "empty key between commas"),
        ("NESTVEC_READ_ONLY_KEYS", " , ", "empty key between commas"),
        ("NESTVEC_API_KEYS", "k1,", "empty key between commas"),
        ("NESTVEC_BATCH_MAX_WAIT_MS", "inf", "finite"),  # every encode waited forever
        ("NESTVEC_READ_TIMEOUT_S", "nan", "finite"),  # it said "should be <= 3600"
        # these three were tracebacks
        ("NESTVEC_PRELOAD_ENCODERS", "graph-cora", "is not trained (run `nestvec train graph`)"),
        ("NESTVEC_HOST", "not..a..host", "is not a host name"),
        # these two started; the first collection or encoder that needed them failed
        ("NESTVEC_MILVUS_URI", "ftp://nowhere", "a Milvus URI is http(s)://"),
        ("NESTVEC_MODELS_DIR", str(Path(__file__)), "is a file, not a directory"),
    ],
)
def test_bad_setting_is_one_line(tmp_path: Path, variable: str, value: str, expects: str) -> None:
    args = ["serve", "--data-dir", str(tmp_path / "data")]
    if variable != "NESTVEC_PORT":  # the flag would win over the variable
        args += ["--port", str(free_port())]
    done = run_cli(args, {variable: value}, tmp_path)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert variable in lines[0] and expects in lines[0], lines[0]
    if variable == "NESTVEC_API_KEYS":
        assert "unterminated" not in lines[0]  # a key, even a malformed list of them, never echoed


def test_a_data_dir_that_cannot_be_made_names_the_setting(tmp_path: Path) -> None:
    done = run_cli(["serve"], {"NESTVEC_DATA_DIR": "/proc/nope/x"}, tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    assert "NESTVEC_DATA_DIR" in lines[0] and "/proc/nope/x" in lines[0]


def test_a_key_with_two_access_levels_stops_the_start(tmp_path: Path) -> None:
    """It got full access silently (the full list is checked first)."""
    env = {"NESTVEC_API_KEYS": "a,shared", "NESTVEC_READ_ONLY_KEYS": "shared,b"}
    done = run_cli(["serve", "--data-dir", str(tmp_path / "data")], env, tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    assert "NESTVEC_API_KEYS" in lines[0] and "NESTVEC_READ_ONLY_KEYS" in lines[0]
    assert "shared" not in done.stderr  # keys are never echoed


def test_unknown_encoder_for_training_is_one_line(tmp_path: Path) -> None:
    args = ["train", "mrl", "--mode", "adapter", "--base", "nosuch", "--out", str(tmp_path / "m")]
    done = run_cli(args, {}, Path.cwd())
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("nestvec: error: unknown encoder 'nosuch'") and "minilm" in lines[0]


def test_serving_a_data_dir_another_process_holds_is_one_line(tmp_path: Path) -> None:
    from index.catalog import DataDirLock

    held = DataDirLock(tmp_path / "data")  # what a running server (or a build) holds
    try:
        args = ["serve", "--data-dir", str(tmp_path / "data"), "--port", str(free_port())]
        done = run_cli(args, {}, tmp_path)
    finally:
        held.release()
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"nestvec: error: {tmp_path / 'data'} is in use by another nestvec process "
        "(one writer per data dir)"
    ]


@pytest.mark.parametrize("command", ["serve", "ingest", "reindex", "analyze"])
def test_a_data_dir_that_is_a_file_is_one_line(tmp_path: Path, command: str) -> None:
    """reindex said the collection did not exist, analyze that it found no collections."""
    source = tmp_path / "a.jsonl"
    source.write_text('{"id": "a", "emb": [1, 2, 3, 4]}\n')
    args = {
        "serve": ["serve", "--port", str(free_port())],
        "ingest": ["ingest", str(source), "--collection", "c", "--vector-field", "emb"]
        + ["--dim", "4", "--no-progress"],
        "reindex": ["reindex", "c"],
        "analyze": ["analyze", "id", "--collection", "c"],
    }[command]
    done = run_cli([*args, "--data-dir", str(source)], {}, tmp_path)
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "is a file, not a directory" in lines[0] and str(source) in lines[0], lines[0]
    assert source.read_text() == '{"id": "a", "emb": [1, 2, 3, 4]}\n'


@pytest.mark.parametrize(
    ("mode", "dims"), [("adapter", "0"), ("adapter", "500"), ("finetune", "385"), ("pca", "-3")]
)
def test_matryoshka_dims_past_the_model_are_one_line(tmp_path: Path, mode: str, dims: str) -> None:
    """Dropped silently, they left an adapter without the dims its collections were made at."""
    args = ["train", "mrl", "--mode", mode, "--dims", "64", dims, "--out", str(tmp_path / "m")]
    done = run_cli(args, {}, Path.cwd())
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]  # after argparse's usage where it refuses them
    assert "--dims" in last and dims in last, done.stderr[-2000:]
    assert not (tmp_path / "m").exists()


def test_a_collections_folder_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "collections").write_text("not a folder")
    args = ["serve", "--port", str(free_port()), "--data-dir", str(data)]
    done = run_cli(args, {}, tmp_path)
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert f"collections {data / 'collections'} is a file" in lines[0], lines[0]


def test_a_collections_folder_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    """A dangling link where collections/ goes (as a data dir this user cannot write): the
    start stopped with the catalog's traceback and exit 3."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "collections").symlink_to(tmp_path / "gone")
    args = ["serve", "--port", str(free_port()), "--data-dir", str(data)]
    done = run_cli(args, {}, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"nestvec: error: data directory {data / 'collections'}: File exists "
        "(--data-dir, env NESTVEC_DATA_DIR)"
    ]


def test_log_flags_take_any_case(tmp_path: Path) -> None:
    """As their variables do (`--log-format TEXT` was an argparse error): the start goes on to
    the settings, refused here for another reason."""
    args = ["serve", "--log-format", "TEXT", "--log-level", "DEBUG", "--data-dir", str(tmp_path)]
    done = run_cli(args, {"NESTVEC_MAX_K": "-1"}, tmp_path)
    assert done.returncode == 2 and "NESTVEC_MAX_K" in done.stderr, done.stderr


def test_a_bad_flag_is_named_as_the_flag(tmp_path: Path) -> None:
    done = run_cli(["serve", "--port", "99999", "--data-dir", str(tmp_path / "d")], {}, tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--port='99999'" in done.stderr and "NESTVEC_PORT" not in done.stderr, done.stderr


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    """`nestvec ... | head`: the closed pipe ends the command quietly."""
    source = tmp_path / "a.jsonl"
    source.write_text("".join(f'{{"id": "{i}", "text": "t{i}"}}\n' for i in range(5)))
    ingest = ["ingest", str(source), "--collection", "c", "--encoder", "fake", "--no-progress"]
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    with os.fdopen(write, "wb") as out:
        done = subprocess.run(
            [NESTVEC, *ingest, "--data-dir", str(tmp_path / "d")],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--data-dir", ""],
        ["ingest", "x.jsonl", "--collection", "c", "--data-dir", ""],
        ["reindex", "c", "--data-dir", ""],
        ["analyze", "id", "--collection", "c", "--data-dir", ""],
        ["train", "graph", "--tiny", "--models-dir", ""],
        ["serve", "--port", "1"],  # with NESTVEC_DATA_DIR="" below
        ["ingest", "x.jsonl", "--collection", "c"],
    ],
)
def test_an_empty_path_is_refused_not_taken_as_here(tmp_path: Path, args: list[str]) -> None:
    """`--data-dir ""` (or NESTVEC_DATA_DIR= in a template) served and built in the current
    directory; other commands took it as not given."""
    env = {} if "" in args else {"NESTVEC_DATA_DIR": ""}
    done = run_cli(args, env, tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "an empty path" in done.stderr.strip().splitlines()[-1]  # after argparse's usage
    assert list(tmp_path.iterdir()) == []  # nothing written here


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    """uvicorn found it after the app had started: ten log lines and exit 3."""
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = run_cli(
            ["serve", "--data-dir", str(tmp_path / "d"), "--port", str(port)], {}, tmp_path
        )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert f"127.0.0.1:{port}: in use" in lines[0]


def test_training_without_its_data_is_the_usual_one_line(tmp_path: Path) -> None:
    """It exited 1 with a bare message (no `nestvec: error:`), unlike every other command."""
    args = ["train", "mrl", "--mode", "finetune", "--shared-data", str(tmp_path / "none")]
    done = run_cli([*args, "--out", str(tmp_path / "m")], {}, tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("nestvec: error: domains") and "--shared-data" in lines[0]
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["graph", "--hops", "-1"],  # a traceback
        ["graph", "--epochs", "-1"],  # an untrained model, written and served
        ["graph", "--held-out", "1.5"],  # no training edge
        ["mrl", "--mode", "finetune", "--budget", "0"],
        ["mrl", "--mode", "finetune", "--max-seq-length", "0"],
        ["moe", "--lr", "-1"],
        ["moe", "--steps", "0"],
    ],
)
def test_a_training_option_out_of_range_is_refused_before_training(
    tmp_path: Path, args: list[str]
) -> None:
    done = run_cli(["train", *args, "--models-dir", str(tmp_path / "m")], {}, tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"argument {args[-2]}: {args[-1]} is not" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "m").exists()  # nothing written


def test_an_output_folder_that_cannot_be_made_is_refused_before_training(tmp_path: Path) -> None:
    """A file where the folder goes was found only when the model was saved, after training."""
    (tmp_path / "file").write_text("")
    args = ["train", "graph", "--tiny", "--models-dir", str(tmp_path / "file" / "models")]
    done = run_cli(args, {}, tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "is a file, not a folder" in lines[0]


@pytest.mark.parametrize("base", ["graph-cora", "face-dlib"])
def test_an_adapter_over_an_encoder_of_no_text_is_one_line(tmp_path: Path, base: str) -> None:
    """graph-cora ended in a TypeError; face-dlib said it expected an image."""
    args = ["train", "mrl", "--mode", "pca", "--tiny", "--base", base]
    done = run_cli([*args, "--models-dir", str(tmp_path / "m")], {}, tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert f"--base '{base}' is a" in lines[0] and "give a text one" in lines[0]


def test_a_missing_init_adapter_names_itself(tmp_path: Path) -> None:
    """It was found after the data loaded, as "no such file ... adapter.json"."""
    args = [
        "train",
        "mrl",
        "--mode",
        "finetune",
        "--tiny",
        "--init-adapter",
        str(tmp_path / "a.npz"),
    ]
    done = run_cli([*args, "--models-dir", str(tmp_path / "m")], {}, tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].endswith(f"--init-adapter {tmp_path / 'a.npz'}: no such file")


def test_a_read_only_data_dir_is_one_line(tmp_path: Path) -> None:
    """Served, every collection was "damaged: restore it from a backup" and /readyz ready."""
    data = tmp_path / "data"
    (data / "collections").mkdir(parents=True)
    made = subprocess.run(["mount", "--bind", str(data), str(data)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"no bind mount here: {made.stderr.decode().strip()}")
    try:
        remount = ["mount", "-o", "remount,bind,ro", str(data)]
        if subprocess.run(remount, capture_output=True).returncode != 0:
            pytest.skip("no read-only remount here")
        args = ["serve", "--port", str(free_port()), "--data-dir", str(data)]
        done = run_cli(args, {}, tmp_path)
    finally:
        subprocess.run(["umount", str(data)], capture_output=True)
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert f"{data / 'collections'}: not writable" in lines[0], lines[0]
