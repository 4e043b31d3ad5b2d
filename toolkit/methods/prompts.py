"""Versioned prompt files (``toolkit/methods/prompts/*.yaml``) rendered into chat messages.

Prompts live in files, not code, so a change is reviewable and bumps a ``version`` that is logged with every
answer (``Answer.details["prompt_version"]``). Each prompt has a system message, one user template per question
family (list, short, long — or ``any``) and a few short few-shot examples: a 135M model needs the system prompt
and an example to follow the format, and the examples must stay short to fit its 1,024-token window.
"""

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from toolkit.records import PublicQuestion
from toolkit.registry import did_you_mean

PROMPTS_DIR = Path(__file__).parent / "prompts"
Family = Literal["list", "short", "long"]


def family(question: PublicQuestion) -> Family:
    """Which prompt family a question uses: lists and long-form differ; every other kind is a short answer."""
    return question.kind if question.kind in ("list", "long") else "short"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Example(_Strict):
    user: str
    assistant: str


class Prompt(_Strict):
    system: str = Field(description="System message; small instruct models drift without one.")
    templates: dict[str, str] = Field(description="User message per family (list/short/long) or 'any'.")
    examples: dict[str, tuple[Example, ...]] = Field(default_factory=dict, description="Few-shot pairs per family.")

    def _pick(self, table: dict, fam: str, default=None):
        return table.get(fam, table.get("any", default))

    def messages(self, fam: Family, **values: str) -> list[BaseMessage]:
        template = self._pick(self.templates, fam)
        if template is None:
            raise KeyError(f"prompt has no template for {fam!r} questions (add '{fam}' or 'any' under templates)")
        shots: list[BaseMessage] = []
        for example in self._pick(self.examples, fam, ()):
            shots += [HumanMessage(example.user), AIMessage(example.assistant)]
        chat = ChatPromptTemplate.from_messages([("system", self.system), *shots, ("human", template)])
        return chat.invoke(values).to_messages()


class PromptFile(_Strict):
    version: str = Field(description="Logged with every answer; bump it whenever a prompt changes.")
    prompts: dict[str, Prompt]

    def get(self, name: str) -> Prompt:
        if name not in self.prompts:
            raise KeyError(f"no prompt {name!r} in prompt file {self.version}.{did_you_mean(name, list(self.prompts))}")
        return self.prompts[name]


@cache
def load_prompts(name_or_path: str) -> PromptFile:
    """A packaged prompt file by name (``"answer"``, ``"cove"``) or any YAML path with the same shape."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROMPTS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in PROMPTS_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"prompt file {str(path)!r} not found.{did_you_mean(name_or_path, known)} Packaged: {known}")
    try:
        return PromptFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as error:
        raise ValueError(f"invalid prompt file {path}: {error}") from error
