"""The shipped config.toml, environment overrides and refusals of unsafe settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from stompim.config import EXAMPLE_JWT_SECRET, Config, load_config
from stompim.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_config_equals_the_defaults() -> None:
    assert load_config(ROOT / "config.toml", environ={}) == Config()


def test_shipped_config_documents_every_key() -> None:
    text = (ROOT / "config.toml").read_text()
    for section, values in Config().__dict__.items():
        assert f"[{section}]" in text
        for key in values.__dict__:
            line = next((ln for ln in text.splitlines() if ln.startswith(f"{key} =")), None)
            assert line is not None, f"{section}.{key} missing from config.toml"
            assert "#" in line or text.splitlines()[
                text.splitlines().index(line) + 1
            ].lstrip().startswith("#"), f"{section}.{key} has no comment"


def test_environment_overrides_file(tmp_path: Path) -> None:
    env = {
        "STOMPIM_DATABASE_URL": "mysql://u:p@127.0.0.1:3306/im",
        "STOMPIM_SERVER_TCP_PORT": "0",
        "STOMPIM_STOMP_ALLOW_ANONYMOUS": "true",
        "STOMPIM_HTTP_CORS_ORIGINS": "http://a.example, http://b.example",
        "STOMPIM_UNRELATED": "x",
    }
    cfg = load_config(ROOT / "config.toml", environ=env)
    assert cfg.database.url == "mysql://u:p@127.0.0.1:3306/im"
    assert cfg.server.tcp_port == 0
    assert cfg.stomp.allow_anonymous is True
    assert cfg.http.cors_origins == ("http://a.example", "http://b.example")


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[server]\nhttp_prot = 1\n")
    with pytest.raises(ConfigError, match=r"server\.http_prot"):
        load_config(path, environ={})


def test_bad_type_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[server]\nhttp_port = "eighty"\n')
    with pytest.raises(ConfigError, match=r"server\.http_port"):
        load_config(path, environ={})


def test_production_refuses_the_example_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="jwt_secret"):
        load_config(ROOT / "config.toml", environ={"STOMPIM_SERVER_PRODUCTION": "1"})
    cfg = load_config(
        ROOT / "config.toml",
        environ={"STOMPIM_SERVER_PRODUCTION": "1", "STOMPIM_AUTH_JWT_SECRET": "s" * 40},
    )
    assert cfg.server.production and cfg.auth.jwt_secret != EXAMPLE_JWT_SECRET


def test_replace_validates_keys() -> None:
    cfg = Config().replace(stomp={"max_frame_size": 100})
    assert cfg.stomp.max_frame_size == 100
    with pytest.raises(ConfigError):
        Config().replace(stomp={"nope": 1})


@pytest.mark.parametrize(("sections", "error"), [
    ({"http": {"stomp_paths": ["ws"]}}, "http.stomp_paths"),
    ({"http": {"stomp_paths": ["/ws/"]}}, "http.stomp_paths"),
    ({"http": {"stomp_paths": ["/api/ws"]}}, "under /api"),
    ({"http": {"stomp_paths": ["/ws", "/ws"]}}, "twice"),
    ({"http": {"sockjs_disconnect_delay_ms": 0}}, "sockjs_disconnect_delay_ms"),
    ({"stomp": {"application_destination_prefixes": []}}, "at least one"),
    ({"stomp": {"application_destination_prefixes": ["app"]}}, "application_destination"),
    ({"stomp": {"user_destination_prefix": "/"}}, "user_destination_prefix"),
])
def test_rest_port_endpoints_and_prefixes_are_checked(
    sections: dict[str, dict[str, object]], error: str
) -> None:
    with pytest.raises(ConfigError, match=error):
        Config().replace(**sections).validate()


def test_rest_port_endpoints_from_the_environment() -> None:
    config = load_config(None, {"STOMPIM_HTTP_STOMP_PATHS": "/ws,/im",
                                "STOMPIM_STOMP_USER_DESTINATION_PREFIX": "/me"})
    assert config.http.stomp_paths == ("/ws", "/im")
    assert config.stomp.user_destination_prefix == "/me"
    assert load_config(None, {"STOMPIM_HTTP_STOMP_PATHS": ""}).http.stomp_paths == ()
