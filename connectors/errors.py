"""JSON errors shared by the HTTP connectors: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from flask import Response, jsonify


class BadRequest(Exception):
    """Input that cannot be accepted; becomes a 4xx JSON error and changes nothing."""

    def __init__(self, message: str, *, code: str = "bad_request", status: int = 400) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


def error_response(code: str, message: str, status: int) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status
