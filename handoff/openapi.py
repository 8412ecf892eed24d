"""The OpenAPI 3.1 document of the agent API (``GET /api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

_ERR = {"$ref": "#/components/responses/Error"}
_ID = {"name": "cid", "in": "path", "required": True, "schema": {"type": "integer"}}


def _obj(**props: Any) -> dict[str, Any]:
    required = [k.rstrip("_") for k in props if not k.endswith("_")]
    properties = {k.rstrip("_"): v for k, v in props.items()}
    return {"type": "object", "properties": properties, "required": required}


S, I, B = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}  # noqa: E741 - schema shorthands
ITEM = {"$ref": "#/components/schemas/QueueItem"}
ITEMS = _obj(items={"type": "array", "items": ITEM})

#: (method, path, summary, request body schema or None, 2xx schema, statuses, path params)
OPERATIONS: list[tuple[str, str, str, dict[str, Any] | None, dict[str, Any] | None, tuple[int, ...]]] = [
    ("post", "/auth/login", "Log in; returns a bearer token", _obj(email=S, password=S),
     _obj(token=S, agent={"$ref": "#/components/schemas/Agent"}), (400, 401)),
    ("post", "/auth/logout", "Revoke the token", None, None, (401,)),
    ("get", "/queue", "Queued conversations in queue order (priority, then longest waiting)", None, ITEMS, (401,)),
    ("get", "/conversations", "Conversations (?status=queued|assigned|mine|open|bot|resolved|all)", None, ITEMS,
     (400, 401)),
    ("get", "/conversations/{cid}", "One conversation with slots, summary, notes and messages", None,
     {"$ref": "#/components/schemas/Conversation"}, (401, 403, 404)),
    ("post", "/conversations/{cid}/claim", "Claim (or take over from the bot); 409 when someone else has it",
     None, ITEM, (401, 403, 404, 409)),
    ("post", "/conversations/{cid}/messages", "Reply to the customer, or add an internal note (internal: true)",
     _obj(text=S, internal_=B), {"type": "object"}, (400, 401, 403, 404, 409)),
    ("post", "/conversations/{cid}/notes", "Add an internal note", _obj(text=S), {"type": "object"},
     (400, 401, 403, 404)),
    ("post", "/conversations/{cid}/transfer", "Transfer to an agent or a team", _obj(agent_id_=I, team_=S), ITEM,
     (400, 401, 403, 404, 409)),
    ("post", "/conversations/{cid}/release", "Release to the bot, which resumes (flow: the flow it starts)",
     _obj(flow_=S), ITEM, (401, 403, 404, 409)),
    ("post", "/conversations/{cid}/resolve", "Resolve the conversation", None, ITEM, (401, 403, 404)),
    ("post", "/conversations/{cid}/typing", "Tell the customer the agent is typing", _obj(typing_=B), None,
     (401, 403, 404)),
    ("get", "/agents", "Active agents with presence, load and teams", None, {"type": "object"}, (401,)),
    ("post", "/agents", "Create an agent (admin)", _obj(email=S, name=S, password=S, role_=S, capacity_=I,
                                                       teams_={"type": "array", "items": S}),
     {"$ref": "#/components/schemas/Agent"}, (400, 401, 403, 409)),
    ("get", "/agents/me", "The logged-in agent", None, {"$ref": "#/components/schemas/Agent"}, (401,)),
    ("patch", "/agents/me", "Set presence (online|away|offline), name or password",
     _obj(status_=S, name_=S, password_=S), {"$ref": "#/components/schemas/Agent"}, (400, 401)),
    ("patch", "/agents/{agent_id}", "Change capacity, role, teams, name, active (admin); 409 last_admin when "
     "that would leave no active admin",
     _obj(capacity_=I, role_=S, active_=B, name_=S, teams_={"type": "array", "items": S}),
     {"$ref": "#/components/schemas/Agent"}, (400, 401, 403, 404, 409)),
    ("get", "/teams", "Teams", None, {"type": "object"}, (401,)),
    ("post", "/teams", "Create a team (admin)", _obj(name=S), {"type": "object"}, (400, 401, 403, 409)),
    ("get", "/canned-responses", "Canned responses", None, {"type": "object"}, (401,)),
    ("post", "/canned-responses", "Create a canned response (admin)", _obj(shortcut=S, text=S), {"type": "object"},
     (400, 401, 403, 409)),
    ("delete", "/canned-responses/{canned_id}", "Delete a canned response (admin)", None, None, (401, 403, 404)),
    ("get", "/business-hours", "The schedule in force (?team=NAME), its source (team|default|settings) and "
     "whether it is open now", None, {"type": "object"}, (400, 401)),
    ("put", "/business-hours", "Set a weekly schedule and time zone (admin)",
     _obj(timezone=S, schedule={"type": "object"}, team_=S), {"type": "object"}, (400, 401, 403)),
    ("delete", "/business-hours", "Remove a team's own hours (?team=NAME), so the default applies; without "
     "?team, the stored default (admin)", None, None, (400, 401, 403, 404)),
    ("get", "/stats", "Queue, agents, containment and handoff rates, waiting and first-response times", None,
     {"type": "object"}, (401,)),
]


def _operation(method: str, path: str, summary: str, request: dict[str, Any] | None,
               response: dict[str, Any] | None, errors: tuple[int, ...]) -> dict[str, Any]:
    ok = "201" if path.endswith(("/messages", "/notes")) or (method == "post" and path in ("/agents", "/teams",
                                                                                        "/canned-responses")) else "200"
    if response is None:
        ok = "204"
    op: dict[str, Any] = {"summary": summary, "responses": {ok: {"description": "OK"}}}
    if response is not None:
        op["responses"][ok]["content"] = {"application/json": {"schema": response}}
    op["responses"].update({str(code): _ERR for code in errors})
    if request is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": request}}}
    params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
    if params:
        op["parameters"] = [{**_ID, "name": p} for p in params]
    if path != "/auth/login":
        op["security"] = [{"bearer": []}]
    return op


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, request, response, errors in OPERATIONS:
        paths.setdefault(path, {})[method] = _operation(method, path, summary, request, response, errors)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Helpdesk agent API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "An error", "content": {"application/json": {"schema": _obj(
                error=_obj(code=S, message=S))}}}},
            "schemas": {
                "Agent": _obj(id=I, email=S, name=S, role=S, capacity=I, status=S, teams_={"type": "array"},
                              load_=I),
                "QueueItem": _obj(conversation_id=I, channel=S, status=S, waiting_since={"type": ["string", "null"]},
                                  priority={"type": ["string", "null"]}, team={"type": ["string", "null"]},
                                  position={"type": ["integer", "null"]}, summary={"type": ["string", "null"]},
                                  assignee_={"type": ["object", "null"]}, customer_={"type": ["object", "null"]}),
                "Conversation": {"allOf": [ITEM, _obj(slots={"type": "object"}, messages={"type": "array"},
                                                      customer_profile={"type": ["object", "null"]},
                                                      notes={"type": "array"})]},
            },
        },
    }
