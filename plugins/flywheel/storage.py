"""Object storage for landing, archive, quarantine and reports: a local folder or ``s3://bucket/prefix``.

The loop only needs a handful of operations (list, read, write, move), so both backends implement exactly those.
S3 goes through boto3; ``FLYWHEEL_S3_ENDPOINT_URL`` points it at MinIO or a moto server.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse


class Store(Protocol):
    """A flat namespace of named objects under one root URI."""

    @property
    def root(self) -> str: ...

    def list(self, pattern: str = "*") -> list[str]: ...
    def read_bytes(self, name: str) -> bytes: ...
    def write_bytes(self, name: str, data: bytes) -> str: ...
    def exists(self, name: str) -> bool: ...
    def delete(self, name: str) -> None: ...
    def uri(self, name: str) -> str: ...


@dataclass(frozen=True)
class LocalStore:
    root: str

    def _path(self, name: str) -> Path:
        return Path(self.root) / name

    def list(self, pattern: str = "*") -> list[str]:
        base = Path(self.root)
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(base).as_posix()
            for p in base.rglob("*")
            if p.is_file() and fnmatch(p.relative_to(base).as_posix(), pattern)
        )

    def read_bytes(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def write_bytes(self, name: str, data: bytes) -> str:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a file.
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_bytes(data)
        tmp.replace(path)
        return str(path)

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def uri(self, name: str) -> str:
        return str(self._path(name))


@dataclass(frozen=True)
class S3Store:
    root: str
    endpoint_url: str | None = None

    @property
    def _bucket_prefix(self) -> tuple[str, str]:
        parsed = urlparse(self.root)
        return parsed.netloc, parsed.path.strip("/")

    def _key(self, name: str) -> str:
        prefix = self._bucket_prefix[1]
        return f"{prefix}/{name}" if prefix else name

    def _client(self):  # boto3 is imported lazily: DAG files must not pull it in at parse time.
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url)

    def list(self, pattern: str = "*") -> list[str]:
        bucket, prefix = self._bucket_prefix
        paginator = self._client().get_paginator("list_objects_v2")
        names = []
        for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(prefix) + 1 :] if prefix else obj["Key"]
                if fnmatch(name, pattern):
                    names.append(name)
        return sorted(names)

    def read_bytes(self, name: str) -> bytes:
        bucket, _ = self._bucket_prefix
        return self._client().get_object(Bucket=bucket, Key=self._key(name))["Body"].read()

    def write_bytes(self, name: str, data: bytes) -> str:
        bucket, _ = self._bucket_prefix
        self._client().put_object(Bucket=bucket, Key=self._key(name), Body=data)
        return self.uri(name)

    def exists(self, name: str) -> bool:
        return name in self.list(name)

    def delete(self, name: str) -> None:
        bucket, _ = self._bucket_prefix
        self._client().delete_object(Bucket=bucket, Key=self._key(name))

    def uri(self, name: str) -> str:
        bucket, _ = self._bucket_prefix
        return f"s3://{bucket}/{self._key(name)}"


def open_store(root: str, endpoint_url: str | None = None) -> Store:
    """The store for a root URI: ``s3://...`` goes to S3, anything else is a local folder."""
    if root.startswith("s3://"):
        return S3Store(root, endpoint_url)
    return LocalStore(root)


def move(source: Store, name: str, target: Store, target_name: str | None = None) -> str:
    """Copy an object to another store, then delete the original (never the other way round)."""
    uri = target.write_bytes(target_name or name, source.read_bytes(name))
    source.delete(name)
    return uri
