"""Signed download URLs: `<base>/<fileId>[/thumbnail]?exp=<unix s>&sig=<hmac>`.

`<base>` is where the REST binding serves files (`http://host:8080/api/file`): the
wiring sets it (app.py, from `media.public_base_url` and the route's path in
stompim.http.routes.file), so this module knows no HTTP route.

Why signed URLs: an `<img src>` or `<audio src>` sends no Authorization header, so
the right to read a file is checked when the URL is handed out (only to a member
of the conversation, see stompim.im.media) and the URL itself carries the proof:
an HMAC-SHA256 over the file id, the variant and the expiry, keyed with a key
derived from the node secret (`auth.jwt_secret`, shared by every node of a
cluster, so any node accepts any node's URL). Verification compares in constant
time (`hmac.compare_digest`) and refuses an expired URL.

Expiries are rounded up to a step of a quarter of `media.url_ttl_seconds`, so the
URLs of one file stay identical for a while and browsers can cache them; a URL
lives between one and one and a quarter TTLs.

Avatars are links without `exp` (a user's profile stores its avatar URL, which
must keep working); `verify` accepts those only for avatar files.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from stompim.im.errors import LINK_INVALID, ImError

ORIGINAL = "file"
THUMBNAIL = "thumbnail"
VARIANTS = (ORIGINAL, THUMBNAIL)
_KEY_LABEL = b"stompim media download links v1"
_SIG_BYTES = 16  # 128-bit tag


@dataclass(frozen=True)
class SignedLink:
    url: str
    expires_at: int | None  # epoch seconds; None: no expiry (avatars)


def derive_key(node_secret: str) -> bytes:
    """The link key: HMAC of a fixed label under the node secret (never the secret itself)."""
    return hmac.new(node_secret.encode("utf-8"), _KEY_LABEL, hashlib.sha256).digest()


class MediaLinks:
    """Makes and checks signed links. `base_url` (up to the file id, no trailing slash)
    is set by app.py once the HTTP port is bound."""

    def __init__(self, node_secret: str, ttl_seconds: int, base_url: str = "") -> None:
        self._key = derive_key(node_secret)
        self.ttl = ttl_seconds
        self.step = max(1, ttl_seconds // 4)
        self.base_url = base_url.rstrip("/")

    def _sig(self, file_id: int, variant: str, exp: int) -> str:
        mac = hmac.new(self._key, f"{file_id}:{variant}:{exp}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:_SIG_BYTES]).rstrip(b"=").decode()

    def expiry(self, now_s: int) -> int:
        return -(-(now_s + self.ttl) // self.step) * self.step

    def _url(self, file_id: int, variant: str) -> str:
        return f"{self.base_url}/{file_id}" + ("" if variant == ORIGINAL else f"/{variant}")

    def link(self, file_id: int, variant: str, now_s: int) -> SignedLink:
        """An expiring link (chat media)."""
        exp = self.expiry(now_s)
        sig = self._sig(file_id, variant, exp)
        return SignedLink(f"{self._url(file_id, variant)}?exp={exp}&sig={sig}", exp)

    def lasting_link(self, file_id: int, variant: str) -> SignedLink:
        """A link without expiry (avatars only: verify refuses it for other files)."""
        return SignedLink(
            f"{self._url(file_id, variant)}?sig={self._sig(file_id, variant, 0)}",
            None,
        )

    def verify(
        self, file_id: int, variant: str, query: Mapping[str, str], now_s: int
    ) -> int | None:
        """Check a request's `exp` and `sig`; return the expiry (None: a lasting link,
        which the caller must accept only for avatars). ImError 6007 (403) otherwise."""
        sig = query.get("sig", "")
        raw_exp = query.get("exp")
        if raw_exp is None:
            exp = 0
        elif raw_exp.isdigit() and 0 < len(raw_exp) <= 12:
            exp = int(raw_exp)
        else:
            raise _invalid()
        if variant not in VARIANTS or not hmac.compare_digest(
            sig.encode(), self._sig(file_id, variant, exp).encode()
        ):
            raise _invalid()
        if exp == 0:
            return None
        if exp <= now_s:
            raise ImError(LINK_INVALID, "the link has expired; ask for the file again", 403)
        return exp


def _invalid() -> ImError:
    return ImError(LINK_INVALID, "the link is not valid", 403)
