"""Multipart uploads that stream every file part to disk and keep its relative path.

Django's own parser keeps small parts in memory, keeps every temp file open until the
response (a folder of 10k files would run out of file descriptors) and cuts each
filename down to its last component. For dataset and datastore uploads this parser
instead writes each part in chunks to a closed temp file under the dataset store's
``tmp/``, hashing it on the way, and keeps the filename as the relative path (checked
later with ``common.archives.clean_path``). A body that ends inside a part marks the upload
as interrupted; the view refuses it and every temp file is removed.
"""

from __future__ import annotations

import hashlib
import html
import os
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import TooManyFilesSent
from django.core.files.uploadhandler import FileUploadHandler
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import get_encoding  # type: ignore[attr-defined]

from datasets import storage


class SpooledUpload:
    """One received file part: its field, relative path, temp file, size and sha256."""

    def __init__(self, field_name: str, name: str, tmp: Path) -> None:
        self.field_name = field_name
        self.name = name
        self.tmp = tmp
        self.size = 0
        self.sha256 = ""

    def as_spooled(self, rel_path: str) -> storage.Spooled:
        return storage.Spooled(rel_path, self.tmp, self.size, self.sha256)

    def open(self) -> Any:
        return open(self.tmp, "rb")

    def close(self) -> None:
        """Called by Django at the end of the request: drop the temp file if still there."""
        self.tmp.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"<SpooledUpload {self.field_name}={self.name!r} {self.size} bytes>"


class SpoolingUploadHandler(FileUploadHandler):
    chunk_size = 1 << 20

    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.received: list[SpooledUpload] = []
        self.interrupted = False
        self._current: SpooledUpload | None = None
        self._out: Any = None
        self._digest: Any = None

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        fd, name = tempfile.mkstemp(dir=storage.tmp_dir(), suffix=".upload")
        self._out = os.fdopen(fd, "wb")
        self._digest = hashlib.sha256()
        self._current = SpooledUpload(field_name, file_name, Path(name))
        self.received.append(self._current)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        assert self._current is not None
        self._out.write(raw_data)
        self._digest.update(raw_data)
        self._current.size += len(raw_data)

    def file_complete(self, file_size: int) -> Any:
        current, self._current = self._current, None
        if current is None:
            return None
        self._out.close()
        current.sha256 = self._digest.hexdigest()
        return current

    def upload_interrupted(self) -> None:
        self.interrupted = True
        if self._out is not None:
            self._out.close()

    def cleanup(self) -> None:
        if self._out is not None and not self._out.closed:
            self._out.close()
        for item in self.received:
            item.close()


class _PathKeepingParser(DjangoMultiPartParser):
    def sanitize_file_name(self, file_name: str) -> str | None:
        # Keep the relative path (the browser's webkitRelativePath, the SDK's path):
        # it is validated, not trusted, by common.archives.clean_path before any use.
        name = html.unescape(file_name).replace("\\", "/").strip()
        return name or None


class StreamingMultiPartParser(parsers.MultiPartParser):
    """DRF parser using the spooling handler; the handler is left on ``request.spool``."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        request = parser_context["request"]
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        handler = SpoolingUploadHandler(request)
        request.spool = handler
        try:
            parser = _PathKeepingParser(meta, stream, [handler], get_encoding(parser_context))
            data, files = parser.parse()
        except MultiPartParserError as exc:
            handler.cleanup()
            raise ParseError(f"Multipart form parse error - {exc}")
        except TooManyFilesSent:
            handler.cleanup()
            limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
            raise ParseError(
                f"More than {limit} files in one request (DATA_UPLOAD_MAX_NUMBER_FILES): send fewer files per request "
                "or one archive."
            ) from None
        except BaseException:
            handler.cleanup()
            raise
        return parsers.DataAndFiles(data, files)
