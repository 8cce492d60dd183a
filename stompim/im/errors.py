"""Business errors of the IM domain, each with the REST error code and HTTP status.

    ImError                 a request the domain refuses (REST: 4xx Result; STOMP chat:
     |                      a MESSAGE on /user/queue/errors, connection kept)
     +-- NotFound, Forbidden, Conflict, ... are plain instances, not subclasses:
         the code carries the meaning, the status only picks the HTTP line.

Codes follow DESIGN.md: 1xxx accounts, 2xxx friends, 3xxx messages, 4xxx groups,
5xxx notifications, 6xxx media, 9xxx generic request errors.
"""

from __future__ import annotations

from stompim.errors import Refusal


class ImError(Refusal):
    """A refusal of the IM domain with a stable `code`, a readable `message` and an HTTP
    `status` (the Refusal branch of stompim/errors.py)."""


# accounts
USERNAME_EXISTS = 1001
BAD_CREDENTIALS = 1002
TOKEN_INVALID = 1003
USER_NOT_FOUND = 1004
PHONE_EXISTS = 1005
SMS_CODE_INVALID = 1006
WEAK_PASSWORD = 1007
ACCOUNT_DISABLED = 1008
SESSION_NOT_FOUND = 1009
# friends
ALREADY_FRIENDS = 2001
REQUEST_PENDING = 2002
NOT_FRIENDS = 2003
CANNOT_ADD_SELF = 2004
BLOCKED = 2005
REQUEST_NOT_FOUND = 2006
# messages
SEND_FAILED = 3001
MESSAGE_NOT_FOUND = 3002
MESSAGE_TOO_LONG = 3003
RECALL_WINDOW_PASSED = 3004
CONVERSATION_NOT_FOUND = 3005
# groups
GROUP_NOT_FOUND = 4001
NOT_GROUP_MEMBER = 4002
GROUP_PERMISSION_DENIED = 4003
GROUP_FULL = 4004
GROUP_MUTED = 4005
INVITATION_NOT_FOUND = 4006
OWNER_MUST_TRANSFER = 4007
INVITATION_EXPIRED = 4008
ALREADY_MEMBER = 4009
APPLICATION_NOT_FOUND = 4010  # no such join request, or answered already
JOIN_NOT_ALLOWED = 4011  # the group's joinPolicy takes no requests (invite_only)
INVITE_LINK_INVALID = 4012  # unknown, revoked, expired or used up
# notifications
NOTIFICATION_NOT_FOUND = 5001
# media (stompim.im.media)
FILE_TYPE_REFUSED = 6001
FILE_TOO_LARGE = 6002
QUOTA_EXCEEDED = 6003
FILE_NOT_FOUND = 6004
FILE_FORBIDDEN = 6005
BAD_IMAGE = 6006
LINK_INVALID = 6007
STORAGE_FAILED = 6008
# generic
BAD_REQUEST = 9001
UNAUTHORIZED = 9002
FORBIDDEN = 9003
NOT_FOUND = 9004
TOO_MANY_REQUESTS = 9005
PAYLOAD_TOO_LARGE = 9006
INTERNAL_ERROR = 9999
