"""BlobStore on an S3-compatible object store (MinIO, AWS S3, ...) through aiobotocore.

Why aiobotocore: it is botocore (the request signing, retries and error model of
the AWS SDK) on aiohttp, kept by aio-libs, so every call is a coroutine on the
node's own loop; the MinIO SDK is synchronous and would need a thread per call.

* Uploads: a file up to `PART_BYTES` is one PutObject; a larger one a multipart
  upload of `PART_BYTES` parts read from disk in a worker thread, so at most one
  part is in memory; a failed multipart upload is aborted.
* Downloads: `download_url` presigns a GetObject (SigV4) that carries the
  Content-Type, Content-Disposition and Cache-Control the client must see; the
  node answers a checked request with a redirect to it and the store serves the
  bytes (Range requests included). With `media.s3_redirect = false` the node
  streams the object itself through `read` (ranged GetObject).
* `media.s3_public_endpoint` names the store as clients reach it when that
  differs from `media.s3_endpoint` (the address the node uses).

Call order: `S3BlobStore(S3Settings(...))` (filled from `media.s3_*`), `await start()`
(opens the clients, creates the bucket with `create_bucket`), the BlobStore calls,
`await close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stompim.store.blobs import READ_CHUNK, BlobNotFound, BlobStoreError, DownloadHeaders, check_key

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client


@dataclass(frozen=True)
class S3Settings:
    """Where the store is and how to use it (the `media.s3_*` keys of config.toml)."""

    bucket: str
    endpoint: str = ""  # empty: AWS
    public_endpoint: str = ""  # the store as clients reach it, for presigned URLs
    region: str = "us-east-1"
    prefix: str = ""
    access_key: str = ""  # empty: botocore's usual sources
    secret_key: str = ""
    create_bucket: bool = False
    redirect: bool = True  # downloads redirect to presigned URLs


PART_BYTES = 8 * 1024 * 1024
"""Multipart part size (S3 wants at least 5 MiB for every part but the last)."""

TIMEOUT_SECONDS = 30


class S3BlobStore:
    kind = "s3"

    def __init__(self, config: S3Settings) -> None:
        self.config = config
        self.bucket = config.bucket
        self.prefix = config.prefix.strip("/") + "/" if config.prefix.strip("/") else ""
        self._stack = contextlib.AsyncExitStack()
        self._client: S3Client | None = None
        self._presigner: S3Client | None = None

    # -- lifetime -------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            from aiobotocore.config import AioConfig
            from aiobotocore.session import get_session
        except ImportError:  # pragma: no cover - depends on the installation
            raise BlobStoreError(
                'media.storage = "s3" needs aiobotocore: pip install "stompim[s3]"'
            ) from None
        cfg = self.config
        options: dict[str, Any] = {"signature_version": "s3v4"}
        if cfg.endpoint:
            options["s3"] = {"addressing_style": "path"}  # MinIO and most self-hosted stores
        aio_config = AioConfig(
            connect_timeout=TIMEOUT_SECONDS,
            read_timeout=TIMEOUT_SECONDS,
            retries={"max_attempts": 3, "mode": "standard"},
            **options,
        )
        session = get_session()

        def client(endpoint: str) -> Any:
            return session.create_client(
                "s3",
                endpoint_url=endpoint or None,
                region_name=cfg.region,
                aws_access_key_id=cfg.access_key or None,
                aws_secret_access_key=cfg.secret_key or None,
                config=aio_config,
            )

        self._client = await self._stack.enter_async_context(client(cfg.endpoint))
        if cfg.public_endpoint and cfg.public_endpoint != cfg.endpoint:
            self._presigner = await self._stack.enter_async_context(client(cfg.public_endpoint))
        else:
            self._presigner = self._client
        if cfg.create_bucket:
            await self._ensure_bucket()

    async def close(self) -> None:
        self._client = self._presigner = None
        await self._stack.aclose()

    @property
    def client(self) -> S3Client:
        if self._client is None:
            raise BlobStoreError("the S3 store is not started")
        return self._client

    async def _ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            await self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _status(exc) != 404:
                raise BlobStoreError(f"bucket {self.bucket}: {exc}") from None
        params: dict[str, Any] = {"Bucket": self.bucket}
        if self.config.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.config.region}
        try:
            await self.client.create_bucket(**params)
        except ClientError as exc:
            if _code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise BlobStoreError(f"creating bucket {self.bucket}: {exc}") from None

    def _object(self, key: str) -> str:
        return self.prefix + check_key(key)

    # -- BlobStore --------------------------------------------------------------------------

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        name = self._object(key)
        size = (await asyncio.to_thread(path.stat)).st_size
        try:
            if size <= PART_BYTES:
                body = await asyncio.to_thread(path.read_bytes)
                await self.client.put_object(
                    Bucket=self.bucket, Key=name, Body=body, ContentType=content_type
                )
            else:
                await self._put_multipart(name, path, content_type)
        except (ClientError, BotoCoreError) as exc:
            raise BlobStoreError(f"storing {key}: {exc}") from None

    async def _put_multipart(self, name: str, path: Path, content_type: str) -> None:
        client = self.client
        upload = await client.create_multipart_upload(
            Bucket=self.bucket, Key=name, ContentType=content_type
        )
        upload_id = upload["UploadId"]
        parts: list[dict[str, Any]] = []
        try:
            with await asyncio.to_thread(open, path, "rb") as handle:
                while chunk := await asyncio.to_thread(handle.read, PART_BYTES):
                    number = len(parts) + 1
                    done = await client.upload_part(
                        Bucket=self.bucket,
                        Key=name,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=chunk,
                    )
                    parts.append({"ETag": done["ETag"], "PartNumber": number})
            await client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=name,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await client.abort_multipart_upload(
                    Bucket=self.bucket, Key=name, UploadId=upload_id
                )
            raise

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        if end <= start:
            return
        try:
            response = await self.client.get_object(
                Bucket=self.bucket, Key=self._object(key), Range=f"bytes={start}-{end - 1}"
            )
        except ClientError as exc:
            if _status(exc) == 404:
                raise BlobNotFound(key) from None
            raise BlobStoreError(f"reading {key}: {exc}") from None
        except BotoCoreError as exc:
            raise BlobStoreError(f"reading {key}: {exc}") from None
        body = response["Body"]
        try:
            async for chunk in body.iter_chunks(READ_CHUNK):
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            await self.client.delete_object(Bucket=self.bucket, Key=self._object(key))
        except (ClientError, BotoCoreError) as exc:
            raise BlobStoreError(f"deleting {key}: {exc}") from None

    async def exists(self, key: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            await self.client.head_object(Bucket=self.bucket, Key=self._object(key))
            return True
        except ClientError as exc:
            if _status(exc) == 404:
                return False
            raise BlobStoreError(f"looking up {key}: {exc}") from None
        except BotoCoreError as exc:
            raise BlobStoreError(f"looking up {key}: {exc}") from None

    async def download_url(self, key: str, expires_in: int, headers: DownloadHeaders) -> str | None:
        if not self.config.redirect:
            return None
        presigner = self._presigner
        if presigner is None:
            raise BlobStoreError("the S3 store is not started")
        return await presigner.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._object(key),
                "ResponseContentType": headers.content_type,
                "ResponseContentDisposition": headers.disposition,
                "ResponseCacheControl": headers.cache_control,
            },
            ExpiresIn=expires_in,
        )


def _status(exc: Any) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
