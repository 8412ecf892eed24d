"""Writing the context summary at handoff: the deterministic one inside the handoff's transaction,
then (with an API key) Claude's in the background, replacing it once it arrives."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from conversations.models import Conversation, DialogueEvent, Message
from conversations.turn import Turn

from handoff import views
from handoff.models import Handoff, Note
from handoff.summary import ClaudeSummarizer, SummaryInput, deterministic
from handoff.types import HandoffRequest, Pending

if TYPE_CHECKING:
    from handoff.service import HandoffService

TRANSCRIPT_MESSAGES = 30


def summary_input(session: Session, conversation: Conversation, request: HandoffRequest) -> SummaryInput:
    """The facts a summary is made of: the dialogue stack and slots, the recent transcript."""
    stack = (conversation.state or {}).get("stack") or []
    asked = next((f.get("context", {}).get("collect") for f in reversed(stack)
                  if f.get("flow_id") == "pattern_collect_information"), None)
    rows = session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                           .order_by(Message.seq.desc()).limit(TRANSCRIPT_MESSAGES))
    transcript = [(m.role, m.text or "") for m in reversed(list(rows)) if m.text]
    slots = request.slots or dict((conversation.state or {}).get("slots") or {})
    return SummaryInput(request.reason, request.flow, slots, [f.get("flow_id", "") for f in stack], asked, transcript)


class Summaries:
    def __init__(self, service: HandoffService) -> None:
        self.service = service
        settings = service.settings
        self.claude: ClaudeSummarizer | None = None
        if service.llm is not None and settings.handoff_llm_summary:
            self.claude = ClaudeSummarizer(service.llm)
        self._executor: ThreadPoolExecutor | None = None

    def write(self, turn: Turn, handoff: Handoff, request: HandoffRequest, pending: Pending) -> str:
        """Store the deterministic summary now (and return it); ask Claude after the commit
        (never inside it)."""
        data = summary_input(turn.session, turn.conversation, request)
        note = self.service.note(turn.session, handoff, turn.conversation.id, deterministic(data), kind="summary",
                                 source="rules")
        if self.claude is not None:
            note_id = note.id
            pending.then(lambda: self._submit(note_id, data))
        return note.text

    def _submit(self, note_id: int, data: SummaryInput) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="handoff-summary")
        self._executor.submit(self._ask_claude, note_id, data)

    def _ask_claude(self, note_id: int, data: SummaryInput) -> None:
        assert self.claude is not None
        text, call = self.claude.summarize(data)
        with self.service.db.session() as session, session.begin():
            note = session.get(Note, note_id)
            if note is None:
                return
            session.add(DialogueEvent(conversation_id=note.conversation_id, type="llm_call",
                                      data={k: v for k, v in call.as_event().items() if k != "event"}))
            if text is None:
                return
            note.text, note.source = text, "claude"
            payload = views.note_json(note)
        self.service.publish("note", payload)

    def close(self) -> None:
        if self._executor is not None:
            # wait for a running summary so none outlives the app (and its database)
            self._executor.shutdown(wait=True, cancel_futures=True)
