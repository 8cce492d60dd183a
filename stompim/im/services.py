"""The IM service container handed to the HTTP app and the broker.

`build_services()` is called once by app.py after the database, the key-value
store and the broker's Publisher exist. Other domains (friends, groups, chat,
notifications) add a field here and one line in `build_services`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stompim.im.accounts import AccountService
from stompim.im.chat import ChatService
from stompim.im.friends import FriendService
from stompim.im.groups import GroupService
from stompim.im.notifications import NotificationService
from stompim.im.whitelist import WhitelistService
from stompim.store.users import UserRepository

if TYPE_CHECKING:
    from stompim.config import Config
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
    )
