"""The IM service container handed to the HTTP app and the broker.

`build_services()` is called once by app.py after the database, the key-value
store and the broker's Publisher exist. Other domains (friends, groups, chat,
notifications) add a field here and one line in `build_services`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stompim.im.accounts import AccountService
from stompim.im.chat import ChatService
from stompim.im.delivery import DeliveryService
from stompim.im.drafts import DraftService
from stompim.im.friends import FriendService
from stompim.im.groups import GroupService
from stompim.im.media import MediaService
from stompim.im.media_chat import ChatMedia
from stompim.im.media_links import MediaLinks
from stompim.im.notifications import NotificationService
from stompim.im.presence_settings import PresenceSettings
from stompim.im.readers import ReadReceipts
from stompim.im.search import SearchService
from stompim.im.system_messages import SystemMessages
from stompim.im.typing_signals import TypingService
from stompim.im.whitelist import WhitelistService
from stompim.store.blobs import BlobStore, default_media_dir
from stompim.store.blobs_local import LocalBlobStore
from stompim.store.friends import FriendRepository
from stompim.store.presence import PresenceRepository
from stompim.store.users import UserRepository

if TYPE_CHECKING:
    from stompim.config import Config, MediaConfig
    from stompim.im.publisher import Publisher
    from stompim.im.sms import SmsSender
    from stompim.store import Database, KeyValue


@dataclass
class ImServices:
    config: Config
    db: Database
    kv: KeyValue
    publisher: Publisher
    accounts: AccountService
    notifications: NotificationService
    friends: FriendService
    groups: GroupService
    whitelist: WhitelistService
    chat: ChatService  # chat.conversations: the conversation list, unread, read markers
    media: MediaService  # uploads and downloads; app.py starts and closes it
    typing: TypingService  # typing signals (not stored); app.py closes it
    presence: PresenceSettings  # who sees whose presence; events: app.py's announcer
    search: SearchService  # full-text search over the user's own conversations
    delivery: DeliveryService  # delivered state of private messages
    drafts: DraftService  # drafts and pins; the conversation list with both
    readers: ReadReceipts  # read-by of a message, read-count events
    timeline: SystemMessages  # system messages in group conversations (group events)


def build_services(
    config: Config,
    db: Database,
    kv: KeyValue,
    publisher: Publisher,
    *,
    sms_sender: SmsSender | None = None,
) -> ImServices:
    """Wire every domain service over the shared store. `sms_sender` overrides the
    sender named by config.sms.sender (tests pass a MemorySmsSender)."""
    accounts = AccountService(config, db, kv, publisher, sms_sender=sms_sender)
    notifications = NotificationService(db, publisher)
    friends = FriendService(db, notifications)
    groups = GroupService(
        db,
        publisher,
        notifications,
        max_group_size=config.im.max_group_size,
        invitation_ttl_days=config.im.invitation_ttl_days,
    )
    whitelist = WhitelistService(db)
    chat = ChatService(
        config=config.im,
        db=db,
        publisher=publisher,
        friends=friends,
        groups=groups,
        users=UserRepository(db),
    )
    timeline = SystemMessages(chat)
    groups.attach_timeline(timeline)  # group events as system messages
    live = config.live
    typing = TypingService(
        access=chat.conversations,
        friends=friends,
        groups=groups,
        publisher=publisher,
        ttl_ms=live.typing_ttl_ms,
        min_interval_ms=live.typing_min_interval_ms,
        session_limit=live.typing_session_limit,
        session_window_ms=live.typing_session_window_ms,
    )
    readers = ReadReceipts(
        db, chat.conversations, publisher,
        max_event_group_size=config.im.read_count_max_group_size,
    )
    chat.conversations.on_group_read = readers.group_read
    media = build_media(config, db)
    media.conversations = chat.conversations
    chat.attach_media(ChatMedia(media))
    return ImServices(
        config=config,
        db=db,
        kv=kv,
        publisher=publisher,
        accounts=accounts,
        notifications=notifications,
        friends=friends,
        groups=groups,
        whitelist=whitelist,
        chat=chat,
        media=media,
        typing=typing,
        presence=PresenceSettings(PresenceRepository(db), accounts, FriendRepository(db)),
        search=SearchService(db, chat.conversations, groups, chat.linked),
        delivery=DeliveryService(db, chat.conversations, publisher),
        drafts=DraftService(db, chat.conversations, publisher,
                            max_length=config.im.max_message_length),
        readers=readers,
        timeline=timeline,
    )


def build_media(config: Config, db: Database) -> MediaService:
    """The media service over the configured store (not started: app.py starts it).

    Local disk: `media.local_dir`, else a folder beside the SQLite file; uploads
    spool in `media.spool_dir`, else `.spool` inside the local folder (one file
    system, so a finished upload is renamed into place) or the system's temporary
    folder when the store is S3."""
    cfg = config.media
    local_dir = Path(cfg.local_dir) if cfg.local_dir else default_media_dir(config.database.url)
    if cfg.spool_dir:
        spool_dir = Path(cfg.spool_dir)
    elif cfg.storage == "local":
        spool_dir = local_dir / ".spool"
    else:
        spool_dir = Path(tempfile.gettempdir()) / "stompim-spool"
    links = MediaLinks(config.auth.jwt_secret, cfg.url_ttl_seconds)  # base: set by app.py
    return MediaService(cfg, db, blob_store(cfg, local_dir), links, spool_dir)


def blob_store(cfg: MediaConfig, local_dir: Path) -> BlobStore:
    """The backend `media.storage` names (not started): a folder, or an S3 bucket."""
    if cfg.storage != "s3":
        return LocalBlobStore(local_dir)
    from stompim.store.blobs_s3 import S3BlobStore, S3Settings

    return S3BlobStore(S3Settings(
        bucket=cfg.s3_bucket, endpoint=cfg.s3_endpoint, public_endpoint=cfg.s3_public_endpoint,
        region=cfg.s3_region, prefix=cfg.s3_prefix, access_key=cfg.s3_access_key,
        secret_key=cfg.s3_secret_key, create_bucket=cfg.s3_create_bucket,
        redirect=cfg.s3_redirect,
    ))
