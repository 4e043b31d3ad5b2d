"""Test scaffolding (kept out of the package): a scripted chat model replies by rule and records every prompt it is sent.

It stands in for a provider's chat model so a method's information flow can be checked exactly (which prompt
saw what) without a server. It reports ``Usage`` the way TierLab chat models do and tracks how many calls ran
at once, so tests can see that factored verification really runs concurrently.
"""

import re
import threading
import time
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, get_buffer_string
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, PrivateAttr

from toolkit.records import USAGE_KEY


class ScriptedChatModel(BaseChatModel):
    """Reply with the first rule whose regex matches the LAST user message (case-insensitive), else ``default``.

    Matching only the last user message keeps rules from firing on the system prompt or few-shot examples.
    """

    rules: list[tuple[str, str]] = Field(default_factory=list, description="(regex, reply) pairs, first match wins.")
    default: str = ""
    delay_s: float = Field(default=0.0, description="Sleep per call, so overlapping calls can be observed.")
    prompts: list[str] = Field(default_factory=list, description="Every prompt received, as buffer text.")
    max_active: int = 0
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _active: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def reply_for(self, last_user: str) -> str:
        for pattern, reply in self.rules:
            if re.search(pattern, last_user, re.IGNORECASE | re.DOTALL):
                return reply
        return self.default

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        with self._lock:
            self.prompts.append(get_buffer_string(messages))
            self._active += 1
            self.max_active = max(self.max_active, self._active)
        try:
            time.sleep(self.delay_s)
            last_user = next((m.text for m in reversed(messages) if isinstance(m, HumanMessage)), "")
            reply = self.reply_for(last_user)
        finally:
            with self._lock:
                self._active -= 1
        usage = {"calls": 1, "input_tokens": sum(len(m.text.split()) for m in messages), "output_tokens": len(reply.split())}
        message = AIMessage(reply, response_metadata={USAGE_KEY: usage, "provider_id": "scripted/fake"})
        return ChatResult(generations=[ChatGeneration(message=message)])
