"""Chat messages that carry an uploaded file (`fileId`): checks, references, links.

Hooked into the chat send path at three points (stompim.im.chat):
  1. `resolve(sends)`: called by the SendBatcher for each batch, after the rights
     checks and before the write. A draft naming a file is refused unless the file
     exists, its sender may read it (their own upload, or one they received) and its
     content fits the message type (an "image" message needs an image, ...);
     otherwise its `extra` becomes the file's facts (fileId, name, size, mime, and
     width/height for images; a client's own url/thumbnail are dropped). The files
     are touched, so no sweep takes them before step 2.
  2. `message_stored(msg)`: after the commit, before the publish: the message
     references its file ('m:<id>', with the conversation), which is what lets the
     conversation's members read it.
  3. `message_recalled(msg)`: the reference goes, so no new link is handed out for
     the file through this message (links already handed out expire by themselves).
`fill(extra)` is the renderer's MediaLinker: fresh signed URLs whenever a message is
shown (live, replay, history, conversation list).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from stompim.im.errors import BAD_REQUEST, FILE_FORBIDDEN, FILE_NOT_FOUND, ImError
from stompim.im.media import MediaService
from stompim.im.media_links import ORIGINAL, THUMBNAIL
from stompim.im.media_types import IMAGE_TYPES, fits_message
from stompim.im.messages import MessageDraft, MessageRecord
from stompim.store.media import RefRecord, message_subject

_SERVER_FIELDS = ("url", "thumbnail", "fileId", "name", "size", "mime", "width", "height")


class ChatMedia:
    def __init__(self, media: MediaService) -> None:
        self.media = media

    def fill(self, extra: dict[str, Any]) -> dict[str, Any]:
        file_id = extra.get("fileId")
        if not isinstance(file_id, int):
            return extra
        now_s = self.media.clock() // 1000
        links = self.media.links
        out = dict(extra)
        out["url"] = links.link(file_id, ORIGINAL, now_s).url
        if out.get("mime") in IMAGE_TYPES:
            out["thumbnail"] = links.link(file_id, THUMBNAIL, now_s).url
        return out

    async def resolve(
        self, sends: Sequence[tuple[int, MessageDraft]]
    ) -> list[MessageDraft | ImError]:
        """For each (sender, draft): the draft to store, or the refusal of this send."""
        wanted = {d.file_id for _, d in sends if d.file_id is not None}
        if not wanted:
            return [d for _, d in sends]
        files = await self.media.repo.files(wanted)
        out: list[MessageDraft | ImError] = []
        used: set[int] = set()
        for sender_id, draft in sends:
            if draft.file_id is None:
                out.append(draft)
                continue
            file = files.get(draft.file_id)
            if file is None:
                out.append(ImError(FILE_NOT_FOUND, "fileId: no such file", 404))
            elif not await self.media.can_read(sender_id, file):
                out.append(ImError(FILE_FORBIDDEN, "fileId: you may not send this file", 403))
            elif not fits_message(file.content_type, draft.type):
                out.append(
                    ImError(
                        BAD_REQUEST,
                        f"fileId: a {file.content_type} file cannot be sent as {draft.type}",
                    )
                )
            else:
                extra = {k: v for k, v in (draft.extra or {}).items() if k not in _SERVER_FIELDS}
                extra.update(fileId=file.id, name=file.name, size=file.size, mime=file.content_type)
                if file.content_type in IMAGE_TYPES:
                    extra.update(width=file.width, height=file.height)
                out.append(dataclasses.replace(draft, extra=extra))
                used.add(file.id)
        await self.media.repo.touch(used, self.media.clock())
        return out

    async def message_stored(self, msg: MessageRecord) -> None:
        file_id = (msg.extra or {}).get("fileId")
        if isinstance(file_id, int):
            ref = RefRecord(file_id, message_subject(msg.id), msg.conversation_id)
            await self.media.repo.add_refs([ref], self.media.clock())

    async def message_recalled(self, msg: MessageRecord) -> None:
        if "fileId" in (msg.extra or {}):
            await self.media.repo.remove_subject(message_subject(msg.id))
