"""The `nestvec` command as a user meets it (subprocesses): --version, help on every option,
--params errors, and a log stream of pure JSON lines (or text when asked)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from support import free_port

BIN = Path(sys.executable).parent / "nestvec"
COMMANDS = [
    ["serve"],
    ["ingest"],
    ["reindex"],
    ["analyze", "id"],
    ["analyze", "lid"],
    ["analyze", "order"],
    ["analyze", "recall"],
    ["train", "mrl"],
    ["train", "moe"],
    ["train", "graph"],
]
OPTION = re.compile(r"^  (-\S.*?)(?:\s{2,}(\S.*))?$")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def options_without_help(help_text: str) -> list[str]:
    """Options of an argparse help page that have no help text (COLUMNS=200: one line each)."""
    lines = help_text.split("options:", 1)[1].splitlines()
    missing = []
    for i, line in enumerate(lines):
        found = OPTION.match(line)
        if found and not found.group(2):
            following = lines[i + 1] if i + 1 < len(lines) else ""
            if not following.startswith("    "):  # help would continue on the next line
                missing.append(found.group(1))
    return missing


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0
    assert re.fullmatch(r"nestvec \d+\.\d+\S*\n", result.stdout), result.stdout


def test_top_level_help_has_no_developer_wording() -> None:
    result = _run("--help")
    assert result.returncode == 0
    for word in ("COMMANDS", "add_arguments", "entry in", "uvicorn", "{serve,"):
        assert word not in result.stdout, word
    assert "--version" in result.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_option_has_help(command: list[str]) -> None:
    result = _run(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert options_without_help(result.stdout) == []


def test_the_checker_sees_a_missing_help() -> None:
    page = "usage: x\n\noptions:\n  -h, --help  show this\n  --lr LR\n  --seed SEED  seed (0)\n"
    assert options_without_help(page) == ["--lr LR"]


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("cli")
    rows = np.random.default_rng(0).standard_normal((40, 8))
    source = data / "v.jsonl"
    source.write_text(
        "".join(json.dumps({"id": str(i), "v": r.tolist()}) + "\n" for i, r in enumerate(rows))
    )
    args = ["ingest", str(source), "--collection", "c", "--vector-field", "v", "--dim", "8"]
    result = _run(*args, "--data-dir", str(data / "d"), "--no-progress")
    assert result.returncode == 0, result.stderr
    return data


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ('{"bogus": 1}', "unknown key 'bogus'"),
        ("nprobe=4", "unknown key 'nprobe'"),
        ("ef=0", "ef:"),
        ("{not json", "--params"),
    ],
)
def test_params_errors_name_the_flag_and_list_the_valid_keys(
    collection: Path, params: str, says: str
) -> None:
    result = _run(
        "analyze",
        "recall",
        "--collection",
        "c",
        "--data-dir",
        str(collection / "d"),
        "--out",
        str(collection / "out"),
        "--n-queries",
        "4",
        "--params",
        params,
    )
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("nestvec analyze recall: error: --params: "), message
    assert says in message and "valid keys for a hnsw index: rescore, exact, ef" in message, message


# logs ------------------------------------------------------------------------------------------
def _serve_log(tmp_path: Path, **env: str) -> list[str]:
    """stderr lines of a server that started, answered a request that loads minilm, and stopped."""
    port = free_port()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("NESTVEC_")}
    environ = {
        **inherited,
        "NESTVEC_LOG_LEVEL": "info",
        "NESTVEC_DATA_DIR": str(tmp_path / "data"),
        **env,
    }
    proc = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port)],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "server exited"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "server not ready"
            time.sleep(0.2)
        # the first use of minilm loads its weights (transformers draws a bar for that)
        r = httpx.post(f"http://127.0.0.1:{port}/embed", json={"inputs": "hello"}, timeout=120)
        assert r.status_code == 200, r.text
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    return [line for line in re.split(r"[\r\n]", err) if line.strip()]


def test_logs_are_pure_json_lines_by_default(tmp_path: Path) -> None:
    lines = _serve_log(tmp_path)
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON log line: {line!r}")
    assert all("color_message" not in r for r in records)
    assert any(r.get("path") == "/embed" and r.get("status") == 200 for r in records)
    assert any(r["logger"] == "uvicorn.error" for r in records)


def test_text_logs_on_request(tmp_path: Path) -> None:
    lines = _serve_log(tmp_path, NESTVEC_LOG_FORMAT="text")
    assert lines and not any(line.startswith("{") for line in lines)
    assert any("uvicorn.error" in line and "Application startup complete" in line for line in lines)
    assert not any("\x1b[" in line for line in lines)  # no terminal colour codes
    assert any("path=/embed" in line and "status=200" in line for line in lines)


def test_text_log_lines_quote_values_and_repeat_no_time() -> None:
    """Every text line ended with a second ` asctime=…`, and a request id `abc status=500` read
    as a field of its own."""
    import logging

    from service.observability import TextFormatter

    record = logging.LogRecord("nestvec.access", logging.INFO, "", 0, "request", (), None)
    for key, value in {"request_id": "abc status=500", "path": "/v1/embed", "ms": 1.5}.items():
        setattr(record, key, value)
    line = TextFormatter().format(record)
    assert "asctime=" not in line
    assert line.endswith(' request_id="abc status=500" path=/v1/embed ms=1.5'), line


@pytest.mark.parametrize("family", ["mrl", "moe", "graph"])
def test_train_help_shows_what_each_option_defaults_to(family: str) -> None:
    import argparse
    import importlib

    from service.commands import train

    parser = argparse.ArgumentParser()
    module_name, _ = train.TRAINERS[family]
    importlib.import_module(module_name).add_arguments(parser)
    train._fill_help(parser, train.OPTION_HELP.get(family, {}))
    unsaid = [
        action.option_strings[-1]
        for action in parser._actions
        if action.default not in (None, False, argparse.SUPPRESS)
        and action.help is not None
        and "default" not in action.help
        and str(action.default) not in action.help % {"default": action.default}
    ]
    assert unsaid == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["serve", "--port", "abc"], "nestvec serve: error: argument --port: invalid int value"),
        (["train", "mrl"], "nestvec train mrl: error: the following arguments are required"),
        (["analyze", "recall"], "nestvec analyze recall: error: the following arguments"),
        (["bogus"], "nestvec: error: argument COMMAND: invalid choice: 'bogus'"),
        # a flag no command takes: the subcommand's help, not `nestvec --help`
        (["serve", "--prot", "1"], "nestvec serve: error: unrecognized arguments: --prot 1"),
        (["train", "graph", "--tinny"], "nestvec train graph: error: unrecognized arguments"),
    ],
)
def test_argument_errors_are_one_line(args: list[str], says: str) -> None:
    """As every other error of the CLI (argparse printed its usage block first: 4 to 16 lines)."""
    result = _run(*args)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(says), result.stderr
    assert lines[0].endswith("--help)")
