"""Writing the context summary at handoff: the deterministic one inside the handoff's transaction,
then (with an API key) Claude's in the background, replacing it once it arrives."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.conversations.models import Conversation, DialogueEvent, Message
from helpdesk.conversations.turn import Turn
from helpdesk.dialogue.view import DialogueView
from helpdesk.handoff import serializers
from helpdesk.handoff.context import HandoffContext, NoteEntry
from helpdesk.handoff.models import Handoff, Note
from helpdesk.handoff.summarizers import ClaudeSummarizer, SummaryInput, deterministic
from helpdesk.handoff.types import HandoffRequest, Pending

TRANSCRIPT_MESSAGES = 30


def summary_input(session: Session, conversation: Conversation, request: HandoffRequest) -> SummaryInput:
    """The facts a summary is made of: the dialogue stack and slots, the recent transcript."""
    view = DialogueView.of(conversation.state)
    rows = session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                           .order_by(Message.seq.desc()).limit(TRANSCRIPT_MESSAGES))
    transcript = [(m.role, m.text or "") for m in reversed(list(rows)) if m.text]
    slots = request.slots or dict(view.slots)
    return SummaryInput(request.reason, request.flow, slots, list(view.stack_flows), view.asked_slot, transcript)


class SummaryNotes:
    """Writes the summary note of a new handoff: the deterministic one at once, inside the turn;
    the summarizer's (Claude's) in the background after the commit, replacing it."""

    def __init__(self, ctx: HandoffContext, summarizer: ClaudeSummarizer | None = None) -> None:
        self.ctx = ctx
        #: the LLM summarizer handoff is given (None: deterministic summaries only)
        self.claude = summarizer
        self._executor: ThreadPoolExecutor | None = None

    def write(self, turn: Turn, handoff: Handoff, request: HandoffRequest, pending: Pending) -> str:
        """Store the deterministic summary now (and return it); ask Claude after the commit
        (never inside it)."""
        data = summary_input(turn.session, turn.conversation, request)
        note = self.ctx.note(turn, handoff, NoteEntry(deterministic(data), kind="summary", source="rules"))
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
        with self.ctx.db.session() as session, session.begin():
            note = session.get(Note, note_id)
            if note is None:
                return
            session.add(DialogueEvent(conversation_id=note.conversation_id, type="llm_call",
                                      data={k: v for k, v in call.as_event().items() if k != "event"}))
            if text is None:
                return
            note.text, note.source = text, "claude"
            payload = serializers.note_json(note)
        self.ctx.publish("note", payload)

    def close(self) -> None:
        if self._executor is not None:
            # wait for a running summary so none outlives the app (and its database)
            self._executor.shutdown(wait=True, cancel_futures=True)
