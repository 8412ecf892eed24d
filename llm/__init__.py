"""The LLM client (Anthropic Claude through the official SDK), shared by the dialogue engine's
command generator and answers and by handoff's summaries. Depends on nothing of ours."""

from helpdesk.llm.client import ClaudeClient, LLMCall, LLMError, LLMRequest, MalformedOutput, Prices

__all__ = ["ClaudeClient", "LLMCall", "LLMError", "LLMRequest", "MalformedOutput", "Prices"]
