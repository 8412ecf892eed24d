"""Other web sites for the browser tests: pages on another origin than the helpdesk's."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import make_server


class OtherSite:
    """A web site on another origin (``localhost`` and its own port, the helpdesk being on
    ``127.0.0.1``), served from a thread. Subclasses say what each path returns (``page``)."""

    def __init__(self) -> None:
        self.server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.origin = f"http://localhost:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page(self, path: str) -> tuple[str, bytes] | None:
        """``(content type, body)`` of ``path``; None: 404."""
        raise NotImplementedError

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        found = self.page(environ.get("PATH_INFO") or "/")
        if found is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        content_type, body = found
        start_response("200 OK", [("Content-Type", content_type), ("Cache-Control", "no-store")])
        return [body]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
