"""Files shared in Slack, fetched with the bot token and stored like widget attachments.

A message event's ``files`` entries carry ``url_private_download`` (and ``url_private``); Slack
serves them to ``Authorization: Bearer <bot token>`` only (an HTML sign-in page otherwise,
which the content sniffing of ``save_attachment`` refuses). The download stops at the
attachment size limit instead of reading a huge file into memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

from helpdesk.conversations.attachments import AttachmentInfo, AttachmentRejected, save_attachment
from helpdesk.conversations.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileProblem:
    """A file that was not stored, and why (told to the customer in the thread)."""

    name: str
    code: str
    message: str


class SlackFiles:
    """Downloads and stores the files of a Slack message.

    Args:
        db: the database (attachments table).
        token: the bot token.
        max_bytes: HELPDESK_MAX_ATTACHMENT_BYTES.
        timeout: seconds per download.
    """

    def __init__(self, db: Database, token: str, max_bytes: int, timeout: float = 20.0) -> None:
        self._db = db
        self._token = token
        self._max_bytes = max_bytes
        self._timeout = timeout

    def store(self, files: tuple[dict[str, Any], ...], *, thread_key: str
              ) -> tuple[list[AttachmentInfo], list[FileProblem]]:
        """Download and store each file for ``thread_key``; what was stored and what was not."""
        stored: list[AttachmentInfo] = []
        problems: list[FileProblem] = []
        for file in files:
            name = str(file.get("name") or file.get("title") or "file")
            try:
                data = self.download(file)
                stored.append(save_attachment(self._db, channel="slack", thread_key=thread_key, name=name,
                                              data=data, max_bytes=self._max_bytes))
            except AttachmentRejected as exc:
                problems.append(FileProblem(name, exc.code, str(exc)))
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("slack.file.download_failed", extra={"file": file.get("id"), "error": str(exc)})
                problems.append(FileProblem(name, "download_failed", f"could not fetch {name} from Slack"))
        return stored, problems

    def download(self, file: dict[str, Any]) -> bytes:
        """The file's bytes (at most ``max_bytes`` + 1, so that the size check can refuse it).

        Raises:
            AttachmentRejected: Slack says the file is too large (before downloading it).
            ValueError: the file has no download URL.
            httpx.HTTPError: the download failed.
        """
        if int(file.get("size") or 0) > self._max_bytes:
            raise AttachmentRejected(f"the file is larger than {self._max_bytes} bytes", code="attachment_too_large")
        url = file.get("url_private_download") or file.get("url_private")
        if not url:
            raise ValueError("the file has no url_private")
        chunks: list[bytes] = []
        received = 0
        headers = {"Authorization": f"Bearer {self._token}"}
        with httpx.stream("GET", str(url), headers=headers, timeout=self._timeout, follow_redirects=True) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                received += len(chunk)
                if received > self._max_bytes:
                    break
        return b"".join(chunks)
