"""Node configuration: `config.toml`, then `STOMPIM_<SECTION>_<KEY>` environment overrides.

Every section is a frozen dataclass so a typo in a key is a start-up error, not a
silently ignored setting. The shipped `config.toml` documents each key; the
defaults here are the same values, so a missing file still yields a working
embedded node.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from stompim.errors import ConfigError
from stompim.forwarded import TrustedProxies

EXAMPLE_JWT_SECRET = "change-me-this-is-the-example-secret-of-stompim"
"""The secret older config.toml files shipped: treated as no secret at all."""
SINGLE_SESSION_MODES = ("off", "per_device_type", "one")
"""auth.single_session: does a new login end older sessions (none; those of the same device
type; all). A STOMP session opened with login+passcode counts as one of device type web."""


def secret_configured(secret: str) -> bool:
    """True when `secret` was chosen by the operator (not empty, not the old example)."""
    return bool(secret) and secret != EXAMPLE_JWT_SECRET
ERROR_STATUS_MODES = ("http", "ok")
"""http.error_status: refusals as 4xx ("http"), or as 200 with the code in the Result ("ok")."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    http_port: int = 8080
    ws_port: int = 8081
    ws_path: str = "/ws"
    tcp_port: int = 61613
    production: bool = False
    node_id: str = ""
    trusted_proxies: tuple[str, ...] = ()
    workers: int = 1
    reuse_port: bool = False


@dataclass(frozen=True)
class StompConfig:
    server_name: str = "stompim/0.1"
    max_frame_size: int = 1024 * 1024
    max_headers: int = 64
    max_header_length: int = 8192
    max_subscriptions: int = 256
    max_pending_bytes: int = 4 * 1024 * 1024
    max_connections_per_user: int = 16
    heartbeat_send_ms: int = 10000
    heartbeat_receive_ms: int = 10000
    heartbeat_grace_ms: int = 30000
    connect_timeout_ms: int = 10000
    allow_anonymous: bool = False
    open_generic_destinations: bool = True
    max_queue_depth: int = 10000
    slow_consumer_ms: int = 10000
    send_drain_ms: int = 10000
    max_transactions: int = 16
    max_transaction_frames: int = 1000
    max_transaction_bytes: int = 4 * 1024 * 1024
    max_unacked_bytes: int = 4 * 1024 * 1024
    preauth_max_bytes: int = 1024 * 1024
    preauth_max_total_bytes: int = 64 * 1024 * 1024
    preauth_max_connections: int = 10000
    max_queue_bytes: int = 16 * 1024 * 1024
    max_queues_total_bytes: int = 128 * 1024 * 1024
    max_queues: int = 10000
    queue_message_ttl_ms: int = 3600000
    ws_fast_path: bool = True
    send_fast_path: bool = True
    application_destination_prefixes: tuple[str, ...] = ("/app",)
    user_destination_prefix: str = "/user"


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite:///./stompim.db"
    pool_min: int = 1
    pool_max: int = 10
    connect_timeout_ms: int = 3000
    acquire_timeout_ms: int = 3000
    query_timeout_ms: int = 5000


@dataclass(frozen=True)
class RedisConfig:
    url: str = ""
    channel_prefix: str = "stompim"
    pool_max: int = 64
    pool_timeout_ms: int = 2000
    connect_timeout_ms: int = 1000
    socket_timeout_ms: int = 2000
    health_check_seconds: int = 15
    retry_after_ms: int = 1000
    bridge_buffer_bytes: int = 16 * 1024 * 1024
    shared_queues: bool = True
    queue_visibility_timeout_ms: int = 30000
    queue_prefetch: int = 64


@dataclass(frozen=True)
class AuthConfig:
    jwt_secret: str = ""
    token_ttl_seconds: int = 7 * 24 * 3600
    bcrypt_rounds: int = 10
    login_max_failures: int = 5
    login_failure_window_seconds: int = 900
    login_max_failures_per_ip: int = 20
    login_max_failures_per_account: int = 100
    login_account_window_seconds: int = 3600
    register_max_per_ip: int = 30
    register_window_seconds: int = 3600
    internal_secret: str = ""
    token_cache_seconds: int = 30
    password_max_wait_ms: int = 3000
    single_session: str = "off"
    session_check_ms: int = 30_000


@dataclass(frozen=True)
class HttpConfig:
    cors_origins: tuple[str, ...] = ("http://localhost:3000", "http://localhost:5173")
    max_body_bytes: int = 1024 * 1024
    max_json_bytes: int = 64 * 1024
    error_status: str = "http"
    web_client: bool = True
    client_ws_url: str = ""
    stomp_paths: tuple[str, ...] = ("/ws",)
    sockjs: bool = True
    sockjs_heartbeat_ms: int = 25000
    sockjs_disconnect_delay_ms: int = 5000
    sockjs_stream_bytes: int = 128 * 1024


@dataclass(frozen=True)
class SmsConfig:
    sender: str = "outbox"
    outbox_path: str = "stompim-sms-outbox.txt"
    code_ttl_seconds: int = 300
    max_per_phone_per_hour: int = 5
    max_per_ip_per_hour: int = 20
    require_for_register: bool = False


@dataclass(frozen=True)
class ImConfig:
    allow_stranger_chat: bool = False
    max_group_size: int = 500
    invitation_ttl_days: int = 7
    recall_window_seconds: int = 120
    max_message_length: int = 5000
    edit_window_seconds: int = 900
    read_count_max_group_size: int = 100


@dataclass(frozen=True)
class LiveConfig:
    """Typing indicators and presence events (stompim.im.typing_signals,
    stompim.im.presence_events; keys in config.toml)."""

    typing_ttl_ms: int = 6000
    typing_min_interval_ms: int = 3000
    typing_session_limit: int = 20
    typing_session_window_ms: int = 10_000
    presence_events: bool = True
    presence_debounce_ms: int = 5000


LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class LogConfig:
    format: str = "text"
    level: str = "INFO"
    access: bool = True


@dataclass(frozen=True)
class MediaConfig:
    """Uploads, storage and download links (stompim.im.media; keys in config.toml)."""

    storage: str = "local"
    local_dir: str = ""
    spool_dir: str = ""
    public_base_url: str = ""
    url_ttl_seconds: int = 3600
    max_avatar_bytes: int = 5 * 1024 * 1024
    max_chat_bytes: int = 100 * 1024 * 1024
    user_quota_bytes: int = 1024 * 1024 * 1024
    max_concurrent_uploads: int = 32
    max_image_pixels: int = 40_000_000
    thumbnail_size: int = 320
    image_workers: int = 2
    unreferenced_ttl_seconds: int = 86400
    sweep_interval_seconds: int = 600
    s3_endpoint: str = ""
    s3_public_endpoint: str = ""
    s3_region: str = "us-east-1"
    s3_bucket: str = "stompim-media"
    s3_prefix: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_create_bucket: bool = False
    s3_redirect: bool = True


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    stomp: StompConfig = field(default_factory=StompConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    sms: SmsConfig = field(default_factory=SmsConfig)
    im: ImConfig = field(default_factory=ImConfig)
    live: LiveConfig = field(default_factory=LiveConfig)
    log: LogConfig = field(default_factory=LogConfig)
    media: MediaConfig = field(default_factory=MediaConfig)

    def replace(self, **sections: Mapping[str, Any]) -> Config:
        """A copy with some keys changed: `cfg.replace(server={"tcp_port": 0})`."""
        changed = {
            name: _build_section(type(getattr(self, name)), values, name, base=getattr(self, name))
            for name, values in sections.items()
        }
        return dataclasses.replace(self, **changed)

    def validate(self) -> None:
        """Refuse settings that would be unsafe, so a node never starts half-configured."""
        if self.server.production and not secret_configured(self.auth.jwt_secret):
            raise ConfigError(
                "auth.jwt_secret is not set (or is the old shipped example); set "
                "STOMPIM_AUTH_JWT_SECRET before running with server.production = true"
            )
        if self.server.production and self.stomp.allow_anonymous:
            raise ConfigError("stomp.allow_anonymous must be false when server.production = true")
        if self.auth.jwt_secret and len(self.auth.jwt_secret) < 32:
            raise ConfigError("auth.jwt_secret must be at least 32 characters")
        if self.auth.single_session not in SINGLE_SESSION_MODES:
            raise ConfigError(
                f"auth.single_session must be one of {', '.join(SINGLE_SESSION_MODES)}, "
                f"not {self.auth.single_session!r}"
            )
        for key in ("login_max_failures", "login_max_failures_per_ip",
                    "login_max_failures_per_account", "login_failure_window_seconds",
                    "login_account_window_seconds", "register_max_per_ip",
                    "register_window_seconds", "session_check_ms"):
            if getattr(self.auth, key) <= 0:
                raise ConfigError(f"auth.{key} must be positive")
        if self.log.format not in LOG_FORMATS:
            raise ConfigError(f"log.format must be one of {LOG_FORMATS}, got {self.log.format!r}")
        if self.log.level.upper() not in LOG_LEVELS:
            raise ConfigError(f"log.level must be one of {LOG_LEVELS}, got {self.log.level!r}")
        if self.http.error_status not in ERROR_STATUS_MODES:
            raise ConfigError(
                f"http.error_status must be one of {', '.join(ERROR_STATUS_MODES)}, "
                f"not {self.http.error_status!r}"
            )
        TrustedProxies.parse(self.server.trusted_proxies)
        _validate_media(self.media)
        for key in ("typing_ttl_ms", "typing_session_limit", "typing_session_window_ms"):
            if getattr(self.live, key) <= 0:
                raise ConfigError(f"live.{key} must be positive")
        if self.live.typing_min_interval_ms < 0 or self.live.presence_debounce_ms < 0:
            raise ConfigError("live.typing_min_interval_ms and live.presence_debounce_ms "
                              "must not be negative")
        if self.redis.queue_visibility_timeout_ms < 100:
            raise ConfigError("redis.queue_visibility_timeout_ms must be at least 100")
        if not 1 <= self.redis.queue_prefetch <= 10000:
            raise ConfigError("redis.queue_prefetch must be between 1 and 10000")
        _validate_endpoints(self)


def _destination_prefix(value: str, where: str) -> None:
    if not value.startswith("/") or value.endswith("/") or len(value) < 2 or " " in value:
        raise ConfigError(f"{where} must look like /app (a leading slash, no trailing one)")


def _validate_endpoints(config: Config) -> None:
    """The STOMP endpoints of the REST port and the destination prefixes (issue 12)."""
    for path in config.http.stomp_paths:
        _destination_prefix(path, "http.stomp_paths entries")
        if path.startswith("/api/") or path == "/api":
            raise ConfigError(f"http.stomp_paths: {path} is under /api, the REST API's prefix")
    if len(set(config.http.stomp_paths)) != len(config.http.stomp_paths):
        raise ConfigError("http.stomp_paths lists a path twice")
    for key in ("sockjs_heartbeat_ms", "sockjs_disconnect_delay_ms", "sockjs_stream_bytes"):
        if getattr(config.http, key) <= 0:
            raise ConfigError(f"http.{key} must be positive")
    for prefix in config.stomp.application_destination_prefixes:
        _destination_prefix(prefix, "stomp.application_destination_prefixes entries")
    if not config.stomp.application_destination_prefixes:
        raise ConfigError("stomp.application_destination_prefixes must name at least one prefix")
    _destination_prefix(config.stomp.user_destination_prefix, "stomp.user_destination_prefix")


def _validate_media(media: MediaConfig) -> None:
    if media.storage not in ("local", "s3"):
        raise ConfigError('media.storage must be "local" or "s3"')
    for key in ("url_ttl_seconds", "max_avatar_bytes", "max_chat_bytes", "max_image_pixels",
                "thumbnail_size", "image_workers", "sweep_interval_seconds",
                "max_concurrent_uploads"):
        if getattr(media, key) <= 0:
            raise ConfigError(f"media.{key} must be positive")
    if media.public_base_url and not media.public_base_url.startswith(("http://", "https://")):
        raise ConfigError("media.public_base_url must start with http:// or https://")


_SECTION_CLASSES: dict[str, type] = {
    "server": ServerConfig,
    "stomp": StompConfig,
    "database": DatabaseConfig,
    "redis": RedisConfig,
    "auth": AuthConfig,
    "http": HttpConfig,
    "sms": SmsConfig,
    "im": ImConfig,
    "live": LiveConfig,
    "log": LogConfig,
    "media": MediaConfig,
}


def _coerce(value: Any, default: Any, where: str) -> Any:
    """Convert a TOML or environment value to the type of the field's default."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{where}: expected a boolean, got {value!r}")
    if isinstance(default, int):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if isinstance(default, tuple):
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, (list, tuple)):
            return tuple(str(v) for v in value)
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _build_section(cls: type, values: Mapping[str, Any], name: str, base: Any = None) -> Any:
    base = base if base is not None else cls()
    known = {f.name for f in fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown setting {name}.{key}")
        kwargs[key] = _coerce(value, getattr(base, key), f"{name}.{key}")
    return dataclasses.replace(base, **kwargs)


def _env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """`STOMPIM_DATABASE_URL=...` -> {"database": {"url": ...}}."""
    out: dict[str, dict[str, str]] = {}
    for var, value in environ.items():
        if not var.startswith("STOMPIM_"):
            continue
        rest = var[len("STOMPIM_"):].lower()
        for section in _SECTION_CLASSES:
            if rest.startswith(section + "_"):
                key = rest[len(section) + 1:]
                if key in {f.name for f in fields(_SECTION_CLASSES[section])}:
                    out.setdefault(section, {})[key] = value
                break
    return out


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read `path` (default: ./config.toml when it exists), then apply the environment."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if path is None:
        default = "config.toml" if Path("config.toml").exists() else None
        path = environ.get("STOMPIM_CONFIG") or default
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    for section, values in _env_overrides(environ).items():
        data.setdefault(section, {}).update(values)
    sections = {}
    for name, values in data.items():
        if name not in _SECTION_CLASSES:
            raise ConfigError(f"unknown section [{name}]")
        if not isinstance(values, dict):
            raise ConfigError(f"[{name}] must be a table")
        sections[name] = _build_section(_SECTION_CLASSES[name], values, name)
    config = Config(**sections)
    config.validate()
    return config
