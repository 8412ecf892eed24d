"""The agent dashboard at ``/agent``: one server-rendered page plus a small script that talks to
the agent REST API and the ``/agent`` socket.io namespace. Customer text is only ever inserted as
text (``textContent``), never as HTML.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, render_template

HERE = Path(__file__).resolve().parent


def blueprint() -> Blueprint:
    bp = Blueprint("agent_dashboard", __name__, template_folder=str(HERE / "templates"),
                   static_folder=str(HERE / "static"), static_url_path="/agent/static")

    @bp.get("/agent")
    @bp.get("/agent/")
    def dashboard() -> Response:
        response = Response(render_template("agent.html"))
        response.headers["Content-Security-Policy"] = (
            # pictures: our own, and Slack customers' profile pictures (Slack's image hosts, Gravatar)
            "default-src 'self'; script-src 'self'; style-src 'self'; "
            "img-src 'self' blob: data: https://*.slack-edge.com https://secure.gravatar.com; "
            "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return bp
