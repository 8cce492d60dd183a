"""README.md stays true to the code: every config key, `STOMPIM_*` variable, REST path and
`stompim` command line it names exists.  (Its metrics table is checked against a live
node in tests/http/test_http_metrics.py; its serve and test commands in tests/test_cli.py
and .ci/run.)"""

from __future__ import annotations

import argparse
import fnmatch
import re
import shlex
from dataclasses import fields
from pathlib import Path

import pytest
from aiohttp import web
from conftest import RecordingPublisher, make_config

from stompim.cli import build_parser
from stompim.config import Config
from stompim.http import create_http_app
from stompim.im.services import build_services
from stompim.store import Database, KeyValue

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text("utf-8")

SECTIONS = {f.name: {k.name for k in fields(getattr(Config(), f.name))} for f in fields(Config)}
NOT_CONFIG_VARIABLES = {"STOMPIM_REQUIRE_SERVICES", "STOMPIM_CONFIG"}
"""`STOMPIM_*` variables the README names that are no config key (tests, --config)."""
NOT_CONFIG_PREFIXES = ("STOMPIM_FUZZ_",)


def test_every_config_key_the_readme_names_exists() -> None:
    sections = "|".join(SECTIONS)
    named = set(re.findall(rf"`((?:{sections})\.[a-z_*]+)", README))
    named |= {f"{s}.{k}" for s, k in re.findall(rf"`({sections})\.([a-z_]+) ?=", README)}
    assert len(named) > 20
    for dotted in sorted(named):
        section, key = dotted.split(".", 1)
        assert fnmatch.filter(SECTIONS[section], key), f"README names {dotted}: no such key"
    for section in re.findall(r"`\[([a-z]+)\]`", README):
        assert section in SECTIONS, f"README names [{section}]: no such section"


def test_every_stompim_variable_the_readme_names_is_a_config_key() -> None:
    variables = set(re.findall(r"\bSTOMPIM_[A-Z0-9_]+\b", README))
    keys = {f"STOMPIM_{s}_{k}".upper() for s, names in SECTIONS.items() for k in names}
    for variable in sorted(variables):
        if variable in NOT_CONFIG_VARIABLES or variable.startswith(NOT_CONFIG_PREFIXES):
            continue
        if variable.endswith("_"):   # the pattern itself: STOMPIM_<SECTION>_<KEY>
            continue
        assert variable in keys, f"README names {variable}: no such config key"


def _readme_paths() -> set[str]:
    """REST paths the README names in backticks (`/api/...`, the operation endpoints),
    without query strings, with `{param}` names left out."""
    out = set()
    for method_path in re.findall(r"`(?:(?:GET|POST|PUT|DELETE|PATCH)(?:\|[A-Z]+)* )?"
                                  r"(/[A-Za-z0-9_./{}\-]*)(?:\?[^`]*)?`", README):
        path = method_path.rstrip(".")
        if (path.startswith("/api/") and not path.endswith("/")) or path in OPERATIONS:
            out.add(re.sub(r"\{[^}]*\}", "{}", path))
    return out


OPERATIONS = {"/", "/health", "/readyz", "/metrics", "/v3/api-docs", "/swagger-ui.html",
              "/doc.html", "/swagger-ui/index.html"}


async def test_every_rest_path_the_readme_names_is_routed(
    sqlite_db: Database, memory_kv: KeyValue
) -> None:
    services = build_services(make_config(), sqlite_db, memory_kv, RecordingPublisher())
    app = create_http_app(services)
    routed = [
        re.compile(re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(resource.canonical)) + "$")
        for resource in app.router.resources() if isinstance(resource, web.Resource)
    ]
    named = _readme_paths()
    assert len(named) > 15
    missing = sorted(
        path for path in named
        if not any(route.match(path.replace("{}", "1")) for route in routed)
    )
    assert not missing, f"README names paths no route serves: {missing}"


def _command_lines() -> list[list[str]]:
    """Every `stompim ...` command line of the README's code blocks."""
    lines = []
    for block in re.findall(r"```(?:sh|console)\n(.*?)```", README, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip().removeprefix("$ ")
            match = re.search(r"(?:\.venv/bin/)?stompim ((?:serve|migrate|doctor|user|version)"
                              r"[^&|;]*)", line)
            if match:
                lines.append(shlex.split(match.group(1)))
    return lines


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return {
        name: sub for action in parser._actions
        if isinstance(action, argparse._SubParsersAction) for name, sub in action.choices.items()
    }


def test_every_command_the_readme_names_in_prose_exists() -> None:
    """`stompim user disable` in a sentence: each word a (sub)command, arguments left out."""
    named = re.findall(r"`stompim ([a-z][a-z -]*)`", README)
    assert len(named) >= 3
    for words in named:
        parser = build_parser()
        for word in words.split():
            commands = _subcommands(parser)
            if not commands:
                break
            assert word in commands, f"README names `stompim {words}`: no command {word!r}"
            parser = commands[word]


def test_every_command_line_the_readme_shows_parses() -> None:
    parser = build_parser()
    lines = _command_lines()
    assert len(lines) >= 8
    for argv in lines:
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"README shows `stompim {shlex.join(argv)}`: the CLI refuses it")
