"""/api/user/*: register, login, logout, profile, search, password, SMS code, online,
token refresh, the caller's login sessions (one per device), last seen and the presence
setting."""

from __future__ import annotations

from aiohttp import web

from stompim.http.api import ApiRoutes
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.models.friend import UserIdPath
from stompim.http.models.user import (
    LoginRequest,
    LoginResult,
    LoginSession,
    OnlineQuery,
    PasswordChange,
    PresenceSetting,
    PresenceUpdate,
    ProfileUpdate,
    RegisterRequest,
    SessionIdPath,
    SmsCodeRequest,
    SmsCodeSent,
    TokenRefreshed,
    User,
    UserSearchQuery,
)
from stompim.http.paging import Page, page_view
from stompim.http.views import user_json
from stompim.im.media import user_subject
from stompim.im.paging import Page as Found

routes = ApiRoutes("user")


@routes.post("/api/user/register", summary="Create an account", public=True, response=User)
async def register(request: web.Request, body: RegisterRequest) -> object:
    user = await request.app[SERVICES].accounts.register(
        username=body.username,
        password=body.password,
        nickname=body.nickname,
        phone=body.phone or None,
        sms_code=body.sms_code or None,
        ip=request.remote,
    )
    return user_json(user, self_view=True)


@routes.post(
    "/api/user/login",
    summary="Log in with username (or phone) and password",
    public=True,
    response=LoginResult,
)
async def login(request: web.Request, body: LoginRequest) -> object:
    result = await request.app[SERVICES].accounts.login(
        username=body.username, phone=body.phone, password=body.password, ip=request.remote,
        device_type=body.device_type,
    )
    return {
        "token": result.token,
        "expiresAt": result.expires_at,
        "user": user_json(result.user, self_view=True),
    }


@routes.post("/api/user/logout", summary="Revoke the calling token; its STOMP sessions close")
async def logout(request: web.Request) -> object:
    await request.app[SERVICES].accounts.logout(request[CLAIMS])
    return None


@routes.post(
    "/api/user/token/refresh",
    summary="A new token for the calling session (before it expires); the calling token "
    "is refused from then on, the session's STOMP connections stay",
    response=TokenRefreshed,
)
async def refresh_token(request: web.Request) -> object:
    issued = await request.app[SERVICES].accounts.refresh_token(request[CLAIMS])
    return {"token": issued.token, "expiresAt": issued.expires_at_ms}


@routes.get(
    "/api/user/sessions",
    summary="The caller's live login sessions (one per device login), newest first",
    response=list[LoginSession],
)
async def sessions(request: web.Request) -> object:
    claims = request[CLAIMS]
    found = await request.app[SERVICES].accounts.list_sessions(claims.user_id)
    return [
        {
            "id": entry.sid, "deviceType": entry.device or "web", "ip": entry.ip,
            "createdAt": entry.created * 1000, "lastUsedAt": entry.last_used_ms or None,
            "expiresAt": entry.exp * 1000, "current": entry.sid == claims.sid,
        }
        for entry in found
    ]


@routes.delete(
    "/api/user/sessions/{id}",
    summary="End one of the caller's login sessions: its token is refused and its STOMP "
    "connections close, on every node (1009 when there is no such session)",
)
async def end_session(request: web.Request, path: SessionIdPath) -> object:
    await request.app[SERVICES].accounts.end_session(request[CLAIMS].user_id, path.id)
    return None


@routes.get("/api/user/info", summary="The caller's own profile", response=User)
async def my_info(request: web.Request) -> object:
    user = await request.app[SERVICES].accounts.get_user(request[CLAIMS].user_id)
    return user_json(user, self_view=True)


@routes.get(
    "/api/user/info/{userId}",
    summary="A user's public profile (own profile in full)",
    response=User,
)
async def user_info(request: web.Request, path: UserIdPath) -> object:
    user = await request.app[SERVICES].accounts.get_user(path.user_id)
    return user_json(user, self_view=path.user_id == request[CLAIMS].user_id)


@routes.put(
    "/api/user/info",
    summary="Update the caller's own profile (only the fields given; the whole object may "
    "be sent back)",
    response=User,
)
async def update_info(request: web.Request, body: ProfileUpdate) -> object:
    services, me = request.app[SERVICES], request[CLAIMS].user_id
    user = await services.media.with_avatar(  # media: avatarFileId -> avatar link
        me, body.given(), user_subject(me),
        lambda changes: services.accounts.update_profile(me, changes),
    )
    return user_json(user, self_view=True)


@routes.get(
    "/api/user/search",
    summary="Find active users by exact username or phone (offset-paged)",
    response=Page[User],
)
async def search(request: web.Request, query: UserSearchQuery) -> object:
    page = await request.app[SERVICES].accounts.search(
        query.keyword, offset=query.offset, limit=query.limit
    )
    me = request[CLAIMS].user_id
    shown = [user_json(u, self_view=u.id == me) for u in page.records]
    return page_view(Found(shown, page.total), query)


@routes.put(
    "/api/user/password",
    summary="Change password; every other login session of the user ends (tokens refused, "
    "STOMP sessions closed, login+password ones too); the calling one stays",
)
async def change_password(request: web.Request, body: PasswordChange) -> object:
    await request.app[SERVICES].accounts.change_password(
        request[CLAIMS], body.old_password, body.new_password
    )
    return None


@routes.post(
    "/api/user/sms-code",
    summary="Send a 6-digit verification code (rate limited per phone and per IP)",
    public=True,
    response=SmsCodeSent,
)
async def sms_code(request: web.Request, body: SmsCodeRequest) -> object:
    ttl = await request.app[SERVICES].accounts.send_sms_code(body.phone, request.remote)
    return {"expiresIn": ttl}


@routes.get(
    "/api/user/online",
    summary="Online status of users: {\"<userId>\": true|false}",
    response=dict[int, bool],
)
async def online(request: web.Request, query: OnlineQuery) -> object:
    services = request.app[SERVICES]
    return await services.presence.online(request[CLAIMS].user_id, query.ids)


@routes.get(
    "/api/user/last-seen",
    summary="When friends' last session ended: {\"<userId>\": epochMs|null} (null for "
    "non-friends, hidden users and users never seen offline)",
    response=dict[int, int | None],
)
async def last_seen(request: web.Request, query: OnlineQuery) -> object:
    services = request.app[SERVICES]
    return await services.presence.last_seen(request[CLAIMS].user_id, query.ids)


@routes.get("/api/user/presence", summary="Own presence privacy setting",
            response=PresenceSetting)
async def presence_setting(request: web.Request) -> object:
    return await request.app[SERVICES].presence.get(request[CLAIMS].user_id)


@routes.put(
    "/api/user/presence",
    summary="Hide or show own presence (online/offline events to friends, online flag)",
    response=PresenceSetting,
)
async def presence_update(request: web.Request, body: PresenceUpdate) -> object:
    return await request.app[SERVICES].presence.set_hidden(
        request[CLAIMS].user_id, body.hide_presence
    )


def register_routes(app: web.Application) -> None:
    routes.register(app)
