"""/api/user/*: register, login, logout, profile, search, password, SMS code, online."""

from __future__ import annotations

from aiohttp import web

from stompim.http.api import ApiRoutes, Param
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.result import ok
from stompim.http.schema import BOOL, INT, STR, arr, obj, ref, s
from stompim.http.validation import (
    json_body,
    optional_str,
    path_id,
    query_id_list,
    query_str,
    require_str,
)
from stompim.http.views import USER_SCHEMA, user_json

routes = ApiRoutes(
    "user",
    components={
        "User": USER_SCHEMA,
        "LoginResult": obj(
            {
                "token": s(STR, description="HS256 JWT; send as Authorization: Bearer <token>"),
                "expiresAt": s(INT, description="epoch milliseconds"),
                "user": ref("User"),
            },
            required=("token", "expiresAt", "user"),
        ),
    },
)


def _ip(request: web.Request) -> str | None:
    return request.remote


@routes.post(
    "/api/user/register",
    summary="Create an account",
    public=True,
    body=obj(
        {
            "username": s(STR, pattern="^[A-Za-z][A-Za-z0-9_]{2,31}$"),
            "password": s(STR, minLength=8, maxLength=64, description="a letter and a digit"),
            "nickname": s(STR, maxLength=64, description="default: username"),
            "phone": s(STR, pattern="^\\+?[0-9]{6,20}$"),
            "smsCode": s(
                STR,
                pattern="^[0-9]{6}$",
                description="needed with phone when "
                "sms.require_for_register is on; verified whenever given",
            ),
        },
        required=("username", "password"),
    ),
    response=ref("User"),
)
async def register(request: web.Request) -> web.Response:
    body = await json_body(request)
    user = await request.app[SERVICES].accounts.register(
        username=require_str(body, "username"),
        password=require_str(body, "password"),
        nickname=optional_str(body, "nickname"),
        phone=optional_str(body, "phone") or None,
        sms_code=optional_str(body, "smsCode") or None,
    )
    return ok(user_json(user, self_view=True))


@routes.post(
    "/api/user/login",
    summary="Log in with username (or phone) and password",
    public=True,
    body=obj(
        {
            "username": s(STR, description="username, or a phone number"),
            "phone": STR,
            "password": STR,
        },
        required=("password",),
    ),
    response=ref("LoginResult"),
)
async def login(request: web.Request) -> web.Response:
    body = await json_body(request)
    result = await request.app[SERVICES].accounts.login(
        username=optional_str(body, "username"),
        phone=optional_str(body, "phone"),
        password=require_str(body, "password"),
        ip=_ip(request),
    )
    return ok(
        {
            "token": result.token,
            "expiresAt": result.expires_at,
            "user": user_json(result.user, self_view=True),
        }
    )


@routes.post("/api/user/logout", summary="Revoke the calling token; its STOMP sessions close")
async def logout(request: web.Request) -> web.Response:
    await request.app[SERVICES].accounts.logout(request[CLAIMS])
    return ok()


@routes.get("/api/user/info", summary="The caller's own profile", response=ref("User"))
async def my_info(request: web.Request) -> web.Response:
    user = await request.app[SERVICES].accounts.get_user(request[CLAIMS].user_id)
    return ok(user_json(user, self_view=True))


@routes.get(
    "/api/user/info/{userId}",
    summary="A user's public profile (own profile in full)",
    path_params=(Param("userId", INT, True),),
    response=ref("User"),
)
async def user_info(request: web.Request) -> web.Response:
    user_id = path_id(request, "userId")
    user = await request.app[SERVICES].accounts.get_user(user_id)
    return ok(user_json(user, self_view=user_id == request[CLAIMS].user_id))


@routes.put(
    "/api/user/info",
    summary="Update the caller's own profile (only the fields given; others refused)",
    body=obj(
        {
            "nickname": s(STR, minLength=1, maxLength=64),
            "avatar": s(STR, maxLength=512, description="http(s) URL, or empty"),
            "signature": s(STR, maxLength=255),
            "gender": s(INT, enum=[0, 1, 2]),
            "email": s(STR, maxLength=128),
            "region": s(STR, maxLength=64),
        },
        additionalProperties=False,
    ),
    response=ref("User"),
)
async def update_info(request: web.Request) -> web.Response:
    body = await json_body(request)
    user = await request.app[SERVICES].accounts.update_profile(request[CLAIMS].user_id, body)
    return ok(user_json(user, self_view=True))


@routes.get(
    "/api/user/search",
    summary="Find active users by exact username or phone",
    query=(Param("keyword", STR, True),),
    response=arr(ref("User")),
)
async def search(request: web.Request) -> web.Response:
    keyword = query_str(request, "keyword", required=True)
    users = await request.app[SERVICES].accounts.search(keyword)
    me = request[CLAIMS].user_id
    return ok([user_json(u, self_view=u.id == me) for u in users])


@routes.put(
    "/api/user/password",
    summary="Change password; every other token of the user is revoked",
    body=obj(
        {"oldPassword": STR, "newPassword": s(STR, minLength=8, maxLength=64)},
        required=("oldPassword", "newPassword"),
    ),
)
async def change_password(request: web.Request) -> web.Response:
    body = await json_body(request)
    await request.app[SERVICES].accounts.change_password(
        request[CLAIMS], require_str(body, "oldPassword"), require_str(body, "newPassword")
    )
    return ok()


@routes.post(
    "/api/user/sms-code",
    summary="Send a 6-digit verification code (rate limited per phone and per IP)",
    public=True,
    body=obj({"phone": s(STR, pattern="^\\+?[0-9]{6,20}$")}, required=("phone",)),
    response=obj({"expiresIn": s(INT, description="seconds the code stays valid")}),
)
async def sms_code(request: web.Request) -> web.Response:
    body = await json_body(request)
    ttl = await request.app[SERVICES].accounts.send_sms_code(
        require_str(body, "phone"), _ip(request)
    )
    return ok({"expiresIn": ttl})


@routes.get(
    "/api/user/online",
    summary="Online status of users",
    query=(Param("ids", STR, True, "comma-separated user ids, at most 200"),),
    response=obj({}, additionalProperties=BOOL, description="userId -> online"),
)
async def online(request: web.Request) -> web.Response:
    ids = query_id_list(request, "ids")
    return ok(await request.app[SERVICES].accounts.online_status(ids))


def register_routes(app: web.Application) -> None:
    routes.register(app)
