"""/api/message/search: full-text search over the caller's own conversations.

Registered before /api/message/* (routes/message.py), so that `search` is never read
as a `{messageId}` of a route added there."""

from __future__ import annotations

from aiohttp import web

from stompim.http.api import ApiRoutes
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.models.search import MessageSearchPage, MessageSearchQuery
from stompim.im.search import DEFAULT_SEARCH_LIMIT

routes = ApiRoutes("message")


@routes.get(
    "/api/message/search",
    summary="Find messages containing a keyword in the caller's own conversations "
    "(newest first, never recalled ones)",
    response=MessageSearchPage,
)
async def search(request: web.Request, query: MessageSearchQuery) -> object:
    return await request.app[SERVICES].search.find(
        request[CLAIMS].user_id,
        query.keyword,
        conversation_id=query.conversation_id,
        cursor=query.cursor,
        limit=query.limit or DEFAULT_SEARCH_LIMIT,
    )


def register_routes(app: web.Application) -> None:
    routes.register(app)
