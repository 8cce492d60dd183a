"""The OpenAPI document lists the media endpoints with their real shapes: a multipart
upload body, the FileInfo result, binary downloads, and avatarFileId on profile updates."""

from __future__ import annotations

from pathlib import Path

from stompim.config import Config
from stompim.http import API, create_http_app
from stompim.http.openapi import build_openapi
from stompim.im.services import build_services
from stompim.store import Database, open_kv

from .conftest import NullPublisher


async def test_openapi_documents_the_file_endpoints(sqlite_db: Database, tmp_path: Path) -> None:
    config = Config().replace(media={"local_dir": str(tmp_path / "media")})
    kv = await open_kv("", prefix="openapi")
    try:
        app = create_http_app(build_services(config, sqlite_db, kv, NullPublisher()))
        doc = build_openapi(app[API])
    finally:
        await kv.close()
    paths, schemas = doc["paths"], doc["components"]["schemas"]
    upload = paths["/api/file/upload"]["post"]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form == {"$ref": "#/components/schemas/UploadForm"}
    fields = schemas["UploadForm"]
    assert fields["properties"]["file"]["format"] == "binary" and fields["required"] == ["file"]
    assert upload["security"] == [{"bearerAuth": []}]
    result = upload["responses"]["200"]["content"]["application/json"]["schema"]
    assert schemas[result["$ref"].rsplit("/", 1)[1]]["properties"]["data"] == {
        "$ref": "#/components/schemas/FileInfo"
    }
    info = schemas["FileInfo"]["properties"]
    wanted = {"fileId", "url", "size", "contentType", "name", "width", "height", "thumbnailUrl"}
    assert wanted <= set(info)
    for path in ("/api/file/{fileId}", "/api/file/{fileId}/thumbnail"):
        get = paths[path]["get"]
        assert get["security"] == []  # a signed link needs no token
        assert "*/*" in get["responses"]["200"]["content"]
        assert {p["name"] for p in get["parameters"]} == {"fileId", "exp", "sig"}
    assert "/api/file/{fileId}/info" in paths
    for path, method, model in (
        ("/api/user/info", "put", "ProfileUpdate"),
        ("/api/group/{groupId}", "put", "GroupUpdate"),
    ):
        body = paths[path][method]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{model}"}
        assert "avatarFileId" in schemas[model]["properties"]
