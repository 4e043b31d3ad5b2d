"""The experiment spec: one YAML file says what to run, and validation happens here, once, with line numbers.

A spec is a grid: providers (catalog ids) x methods, over a seeded sample of a dataset split. Budget caps and
concurrency shape *how* it runs, not *what* it measures, so they are left out of the spec hash: raising a budget and
rerunning continues the same run instead of starting over.
"""

import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from toolkit.metrics import DEFAULT_METRICS
from toolkit.metrics.stats import MIN_PAIRS
from toolkit.records import QuestionKind
from toolkit.strategies.spec import Strategies


class SpecError(ValueError):
    """A spec that cannot be used; the message names the file, line, field and the fix."""


def known_provider_id(value: str) -> str:
    """A catalog id, checked at load so a typo stops the run before a run folder or an MLflow run exists
    (``optional: true`` never hides it: optional is about a missing API key, not an unknown model)."""
    from toolkit.providers import load_catalog
    from toolkit.registry import UnknownNameError

    try:
        load_catalog().entry(value)
    except UnknownNameError as error:
        raise ValueError(str(error)) from None
    return value


EMULATED_SUFFIX = "~emulated"


def provider_entry(text: str) -> dict[str, Any]:
    """A provider written as a string: a catalog id, or an arm name ``id~emulated`` (what tables and panels show)
    for that id's emulated free tier."""
    if text.endswith(EMULATED_SUFFIX):
        return {"id": text.removesuffix(EMULATED_SUFFIX), "emulate": True}
    return {"id": text}


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Budget(_Spec):
    """Caps for one provider across all its arms; the runner reports an expected overrun before starting and stops
    the provider's arms when a cap is reached (answers so far are kept)."""

    max_requests: int | None = Field(
        default=None, ge=0, description="Network model calls (cache hits are free)."
    )
    max_tokens: int | None = Field(default=None, ge=0, description="Input + output tokens of network calls.")
    max_usd: float | None = Field(
        default=None, ge=0, description="Actually charged dollars (0 on free tiers)."
    )


class ProviderSpec(_Spec):
    """One provider arm dimension: a catalog id plus how to reach it."""

    id: str = Field(
        description="Catalog id `provider/model`, e.g. `local/smollm2-135m-instruct`, `groq/llama-3.1-8b-instant`."
    )
    label: str | None = Field(
        default=None, description="Name of the arm's provider part; defaults to the id (+ `~emulated`)."
    )
    base_url: str | None = Field(
        default=None, description="Override the catalog base URL (e.g. a test server)."
    )
    emulate: bool = Field(
        default=False,
        description="Run against a local emulator of this provider's free tier (limits, headers, 429s) backed by the local model.",
    )
    emulator_backend: str | None = Field(
        default=None, description="OpenAI-compatible URL the emulator forwards to (default: the local model)."
    )
    emulator_options: dict[str, Any] = Field(
        default_factory=dict, description="Extra keyword arguments for the emulator (faults, latency)."
    )
    optional: bool = Field(
        default=False,
        description="Skip this provider (noted in the result) when its API key is not set, instead of failing.",
    )
    cache: bool | Literal["always"] = Field(
        default=True,
        description="Use the provider response cache (replays make no network calls); an emulator injecting faults "
        "skips it unless `always`.",
    )
    concurrency: int = Field(
        default=2, ge=1, le=64, description="Most requests in flight to this provider at once."
    )
    params: dict[str, Any] = Field(
        default_factory=lambda: {"temperature": 0, "max_tokens": 96},
        description="Chat model parameters (temperature, max_tokens ...).",
    )
    budget: Budget = Field(default_factory=Budget, description="Request/token/$ caps for this provider.")
    sample_size: int | None = Field(
        default=None, ge=1,
        description="Ask this provider only this many questions of the experiment's sample (a seeded, stratified "
        "subset of it, shared by every arm that asks that many or fewer); null = the whole sample.",
    )

    @field_validator("id")
    @classmethod
    def _known_id(cls, value: str) -> str:
        return known_provider_id(value)

    @model_validator(mode="after")
    def _usable_options(self) -> "ProviderSpec":
        """Emulator options and generation parameters checked now, not by every question failing later."""
        from toolkit.providers import load_catalog
        from toolkit.providers.emulator import check_options

        if self.emulator_options:
            if not self.emulate:
                raise ValueError("emulator_options only apply to an emulated provider: add `emulate: true` or "
                                 "remove them")
            try:
                check_options(self.emulator_options)
            except ValueError as error:
                raise ValueError(f"emulator_options: {error}") from None
        check_params(self.params, load_catalog().entry(self.id).context_window)
        return self

    @property
    def name(self) -> str:
        return self.label or (f"{self.id}{EMULATED_SUFFIX}" if self.emulate else self.id)


class GenerationParams(BaseModel):
    """The parameters TierLab itself reads or every OpenAI-compatible server checks; others pass through as given."""

    model_config = ConfigDict(extra="allow")

    max_tokens: int | None = Field(default=None, gt=0, description="Most output tokens per call.")
    temperature: float | None = Field(default=None, ge=0, le=2, description="Sampling temperature.")
    top_p: float | None = Field(default=None, gt=0, le=1, description="Nucleus sampling mass.")
    n: int | None = Field(default=None, ge=1, le=1, description="Answers per call: TierLab reads one.")
    seed: int | None = Field(default=None, description="Sampling seed, where the server supports one.")
    timeout_s: float | None = Field(default=None, gt=0, description="Client: seconds before a call times out.")
    max_retries: int | None = Field(default=None, ge=0, le=20, description="Client: retries of a failed call.")
    max_wait_s: float | None = Field(default=None, ge=0, description="Client: longest wait for a quota window.")
    backoff_s: float | None = Field(default=None, ge=0, description="Client: first retry backoff.")

def check_params(params: dict[str, Any], context_window: int) -> None:
    """Raise ``ValueError`` naming the parameter for values no call could succeed with (``max_tokens: -5``)."""
    try:
        checked = GenerationParams.model_validate(params)
    except ValidationError as error:
        first = error.errors()[0]
        raise ValueError(f"params.{'.'.join(map(str, first['loc']))}: {first['msg']} "
                         f"(got {first.get('input')!r})") from None
    if checked.max_tokens is not None and checked.max_tokens >= context_window:
        raise ValueError(f"params.max_tokens: {checked.max_tokens} does not fit this model's context window of "
                         f"{context_window} tokens (prompt included); lower it")


class MethodSpec(_Spec):
    name: str = Field(
        description="A registered method: closed_book, rag, cove_joint, cove_two_step, cove_factored, cove_factor_revise, rag_cove ..."
    )
    label: str | None = Field(
        default=None, description="Name of the arm's method part; defaults to the method name."
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Options for `toolkit.methods.get_method(name, **options)`."
    )
    sample_size: int | None = Field(
        default=None, ge=1,
        description="Ask this method only this many questions of the experiment's sample (a seeded, stratified "
        "subset, e.g. to keep an expensive method cheap); paired tests use the questions both arms answered.",
    )
    strategies: Strategies | None = Field(
        default=None,
        description="Free-tier strategies wrapped around the method (batching, caching, trimming, cascade, review; "
        "`toolkit.strategies`); the runner answers, budgets, judges and stores such an arm like any other.",
    )

    @model_validator(mode="after")
    def _known_method(self) -> "MethodSpec":
        """Unknown names get "did you mean"; bad options name the option (both at load, before any run)."""
        from toolkit.methods import METHODS, get_method
        from toolkit.registry import UnknownNameError

        try:
            METHODS.get(self.name) if not self.options else get_method(self.name, **self.options)
        except UnknownNameError as error:
            raise ValueError(str(error)) from None
        if self.strategies and self.strategies.batching and self.retrieves:
            raise ValueError(
                f"batching answers k questions closed-book in one prompt; method {self.name!r} retrieves. Use "
                "batching with closed_book, or drop batching for this arm."
            )
        return self

    @property
    def arm_name(self) -> str:
        return self.label or self.name

    @property
    def retrieves(self) -> bool:
        """Whether this method needs a retriever (a method may declare it; by default the ``rag*`` methods)."""
        from toolkit.methods import get_method

        declared = getattr(get_method(self.name, **self.options), "needs_retriever", None)
        return bool(declared) if declared is not None else self.name.startswith("rag")


class JudgeSpec(_Spec):
    """One judge of a run's answers; every answer stores one verdict per judge (``AnswerRecord.verdicts``)."""

    name: str = Field(
        default="offline",
        description="A registered judge (`offline`, the default; `claims`) or `llm:<catalog id>` for an LLM judge "
        "(a bare catalog id is read as that).",
    )
    base_url: str | None = Field(default=None, description="Override an LLM judge's base URL.")
    sample: int | None = Field(
        default=None,
        ge=1,
        description="Judge only the first N answers of each arm (a costly LLM judge); agreement is reported on them.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Passed to the judge, e.g. {use_embeddings: false} for `claims`."
    )

    @field_validator("name")
    @classmethod
    def _known_judge(cls, value: str) -> str:
        from toolkit.judges.base import judge_name

        return judge_name(value)

    @model_validator(mode="after")
    def _known_options(self) -> "JudgeSpec":
        from toolkit.judges.base import check_options

        if not self.is_llm:
            check_options(self.name, self.options)
        return self

    @property
    def is_llm(self) -> bool:
        from toolkit.judges.base import LLM_PREFIX

        return self.name.startswith(LLM_PREFIX)

    @property
    def provider(self) -> str | None:
        """The catalog id an LLM judge asks (its endpoint is rate-limited like a provider's); None otherwise."""
        from toolkit.judges.base import LLM_PREFIX

        return self.name.removeprefix(LLM_PREFIX) if self.is_llm else None


def _judges_from_deprecated(judge: Any) -> list[dict[str, Any]]:
    """``judge: {provider, base_url, sample, use_embeddings}`` (before ``judges:``): the default judge, plus an LLM
    judge when ``provider`` names a catalog model."""
    if not isinstance(judge, dict):
        raise ValueError("`judge:` (deprecated) must be a mapping; write `judges: [offline]` instead")
    unknown = set(judge) - {"provider", "base_url", "sample", "use_embeddings"}
    if unknown:
        raise ValueError(f"unknown key {sorted(unknown)[0]!r} in `judge:`; write `judges:` (a list of judges) instead")
    out: list[dict[str, Any]] = [{"name": "offline"}]  # use_embeddings: the offline judge embeds nothing now
    provider = judge.get("provider", "rules")
    if provider != "rules":
        llm = {"name": provider, "base_url": judge.get("base_url"), "sample": judge.get("sample")}
        out.append({k: v for k, v in llm.items() if v is not None})
    return out


class ExperimentSpec(_Spec):
    """What to run: providers x methods over a seeded sample of a dataset split."""

    name: str = Field(
        description="Experiment name; the MLflow experiment and the run folder are named after it."
    )
    description: str = Field(default="", description="Free text shown in the MLflow summary.")
    dataset: str = Field(
        default="factbook",
        description="Dataset name for `toolkit.datasets.load_dataset` (factbook, jsonl:<path> ...).",
    )
    split: str = Field(default="dev", description="Dataset split.")
    sample_size: int | None = Field(
        default=MIN_PAIRS, ge=1,
        description=f"Questions sampled (stratified by kind, seeded); null = the whole split. Below {MIN_PAIRS} no "
        "paired test between arms is possible (the run warns before it starts).",
    )
    kinds: tuple[QuestionKind, ...] | None = Field(
        default=None, description="Only these question kinds; null = all."
    )
    seed: int = Field(default=0, description="Seed for the sample and the bootstrap.")
    providers: tuple[ProviderSpec, ...] = Field(
        min_length=1, description="Catalog ids (strings) or mappings with options."
    )
    methods: tuple[MethodSpec, ...] = Field(
        min_length=1, description="Method names (strings) or mappings with options."
    )
    metrics: tuple[str, ...] = Field(
        default=DEFAULT_METRICS,
        description="Registered metrics; hallucination and cost are always reported.",
    )
    judges: tuple[JudgeSpec, ...] = Field(
        default=(JudgeSpec(),),
        min_length=1,
        description="Who decides hallucination: judge names or mappings; the first is the primary judge (the "
        "`hallucination` metric). `judge:` (one mapping with `provider`) is the deprecated older form.",
    )
    retriever: dict[str, Any] = Field(
        default_factory=dict,
        description="`toolkit.retrieval.RetrieverSettings` fields for methods that retrieve, e.g. `k: 3`. "
        "`scope: corpus` (default) searches the whole corpus; `scope: oracle` only the gold documents of the questions "
        "asked (+ distractors), an oracle retriever labelled as such.",
    )
    headline: tuple[str, str] | None = Field(
        default=None,
        description="Two arm names (`provider | method`) whose paired accuracy test the report leads with, with its "
        "Holm-adjusted p and the power it had, e.g. [local/smollm2-135m-instruct | rag, "
        "local/smollm2-135m-instruct | closed_book].",
    )
    concurrency: int = Field(default=4, ge=1, le=256, description="Questions in flight across all arms.")
    confidence: float = Field(default=0.95, gt=0, lt=1, description="Confidence level of every interval.")
    bootstrap_resamples: int = Field(default=2000, ge=100, description="Bootstrap resamples per interval.")

    @model_validator(mode="before")
    @classmethod
    def _deprecated_judge_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "judge" in data:
            if "judges" in data:
                raise ValueError("give either `judges:` or the deprecated `judge:`, not both")
            data = {k: v for k, v in data.items() if k != "judge"} | {"judges": _judges_from_deprecated(data["judge"])}
        return data

    @field_validator("judges", mode="before")
    @classmethod
    def _judge_names(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("providers", "methods", mode="before")
    @classmethod
    def _strings_are_ids(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, list | tuple):
            short = provider_entry if info.field_name == "providers" else (lambda v: {"name": v})
            return [short(v) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        """``<format>:<path>`` names a registered format and a path (the file itself is read, with its own
        line-numbered errors, when the run starts); a bare name is looked up when the run loads it."""
        from toolkit.datasets import LOADERS
        from toolkit.registry import did_you_mean

        prefix, colon, arg = value.partition(":")
        if not colon:
            return value
        if prefix not in LOADERS.names():
            raise ValueError(f"unknown dataset loader {prefix!r}.{did_you_mean(prefix, LOADERS.names())} "
                             f"Known dataset loaders: {', '.join(LOADERS.names())}.")
        if prefix != "factbook" and not arg.strip():
            raise ValueError(f"dataset {value!r} needs a path: write {prefix}:/path/to/data")
        return value

    @field_validator("split")
    @classmethod
    def _plain_split(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", value):
            raise ValueError(f"split {value!r} must be a name (letters, digits, '_', '.', '-'), e.g. dev or test")
        return value

    @field_validator("retriever")
    @classmethod
    def _retriever_settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Checked at load against ``RetrieverSettings`` (``dataset`` comes from the spec's own field)."""
        from toolkit.retrieval.settings import RetrieverSettings

        if "dataset" in value:
            raise ValueError("retriever.dataset is the spec's own `dataset`; remove it from `retriever`.")
        RetrieverSettings(**_retriever_options(value))
        return value

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from toolkit.metrics import METRICS
        from toolkit.registry import did_you_mean

        for name in value:
            if name not in METRICS:
                raise ValueError(
                    f"unknown metric {name!r}.{did_you_mean(name, METRICS.names())} Known: {', '.join(METRICS.names())}"
                )
        return value

    @model_validator(mode="after")
    def _unique_arms(self) -> "ExperimentSpec":
        if self.judges[0].sample is not None:
            raise ValueError("the first judge is the primary one and judges every answer: move `sample` to another")
        for what, names in (
            ("provider", [p.name for p in self.providers]),
            ("method", [m.arm_name for m in self.methods]),
            ("judge", [j.name for j in self.judges]),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{what} {dupes[0]!r} is listed twice; give one a distinct `label`")
        return self

    @property
    def llm_judge(self) -> JudgeSpec | None:
        """The first LLM judge beside the primary judge (its verdicts are the ``llm_hallucination`` metric)."""
        return next((j for j in self.judges[1:] if j.is_llm), None)

    @model_validator(mode="after")
    def _known_headline(self) -> "ExperimentSpec":
        names = [arm_name(p, m) for p, m in self.arms()]
        for name in self.headline or ():
            if name not in names:
                raise ValueError(f"headline arm {name!r} is not an arm of this spec; arms: {names}")
        return self

    def arms(self) -> list[tuple[ProviderSpec, MethodSpec]]:
        return [(p, m) for p in self.providers for m in self.methods]

    def arm_sample_size(self, provider: ProviderSpec, method: MethodSpec) -> int | None:
        """How many of the sampled questions an arm asks (None: all of them)."""
        sizes = [n for n in (provider.sample_size, method.sample_size) if n is not None]
        return min(sizes) if sizes else None

    def retriever_settings(self):
        """The ``RetrieverSettings`` of this spec's retrieving arms."""
        from toolkit.retrieval.settings import RetrieverSettings

        return RetrieverSettings(**{"dataset": self.dataset, **_retriever_options(self.retriever)})

    def spec_hash(self) -> str:
        """Hash of what determines the answers (not budgets, concurrency, labels of the run or cache flags),
        including the endpoint an arm calls (its base URL override, an emulator's backend) and the digest of every
        file the dataset reads (questions, documents, side corpus), the one MLflow shows: answers stored from one
        server or one version of the data never stand in for another's."""
        from toolkit.datasets.files import dataset_digest

        data = self.model_dump(
            mode="json",
            exclude={"name", "description", "concurrency", "confidence", "bootstrap_resamples", "metrics"},
        )
        data.pop("headline", None)
        for provider in data["providers"]:
            for key in ("budget", "concurrency", "cache"):
                provider.pop(key, None)
            for key in ("base_url", "emulator_backend", "sample_size"):  # unset: keeps older keys stable
                if provider.get(key) is None:
                    provider.pop(key, None)
        for method in data["methods"]:
            for key in ("sample_size", "strategies"):  # unset: keeps older keys stable
                if method.get(key) is None:
                    method.pop(key, None)
        if any(m.retrieves for m in self.methods) and "documents" not in self.retriever:
            # runs from before scopes existed searched the sample's documents: a new key, never their answers
            data["retriever"] = {"scope": self.retriever_settings().scope, **data["retriever"]}
        if digest := dataset_digest(self.dataset, self.split):
            data["dataset_digest"] = digest[:16]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]

    def run_key(self) -> str:
        """Folder name of this spec's result store: readable name + hash."""
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.name).strip("-")[:40] or "experiment"
        return f"{slug}-{self.spec_hash()}"

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=True), sort_keys=False)


LEGACY_SCOPES = {"all": "corpus", "sample": "oracle", "split": "oracle"}
"""``retriever.documents``, the older spelling of the scope (kept so stored runs keep their run keys)."""


def _retriever_options(options: dict[str, Any]) -> dict[str, Any]:
    """``retriever`` options as ``RetrieverSettings`` fields (the older ``documents:`` read as its ``scope``)."""
    options = dict(options)
    if "documents" in options:
        documents = options.pop("documents")
        if documents not in LEGACY_SCOPES:
            raise ValueError(f"retriever.documents must be one of {sorted(LEGACY_SCOPES)}, not {documents!r}; "
                             "better, write `scope: corpus` (the whole corpus) or `scope: oracle` (gold documents).")
        options.setdefault("scope", LEGACY_SCOPES[documents])
    return options


def emulator_backend_url(provider: ProviderSpec) -> str:
    """The model server an emulated provider's text really comes from (also recorded with the run in MLflow)."""
    return provider.emulator_backend or os.environ.get("TIERLAB_LOCAL_URL", "http://127.0.0.1:8000/v1")


def arm_name(provider: ProviderSpec, method: MethodSpec) -> str:
    return f"{provider.name} | {method.arm_name}"


def short_provider_names(providers) -> dict[str, str]:
    """Provider name -> a name short enough for MLflow's runs table: the vendor (``local``, ``groq``) when that
    tells the spec's providers of that vendor apart, else their whole ids; ``~emu`` marks an emulated free tier and
    a label is kept as written."""
    def name(provider, whole: bool) -> str:
        if provider.label:
            return provider.label
        base = provider.id if whole else provider.id.split("/", 1)[0]
        return f"{base}~emu" if provider.emulate else base

    def vendor(provider) -> str:
        return provider.id.split("/", 1)[0]

    short = [name(p, whole=False) for p in providers]
    clashing = {vendor(p) for p, n in zip(providers, short, strict=True) if short.count(n) > 1}
    return {p.name: name(p, whole=vendor(p) in clashing) for p in providers}


def arm_label(provider: ProviderSpec, method: MethodSpec, providers=()) -> str:
    """``rag · groq~emu``: what tables, plots and MLflow's runs table call an arm — method first (a cut-off name
    still shows it), then the provider as short as ``providers`` (the spec's) allow."""
    return f"{method.arm_name} · {short_provider_names(providers or (provider,))[provider.name]}"


def arm_labels(spec: ExperimentSpec, arms: Iterable[str] = ()) -> dict[str, str]:
    """Arm name (``provider | method``) -> its short label, for every arm of ``spec`` and every name in ``arms``; a
    name with more parts (a strategy arm, ``provider | method | cache``) keeps them: ``closed_book · local · cache``."""
    labels = {arm_name(p, m): arm_label(p, m, spec.providers) for p, m in spec.arms()}
    for arm in arms:
        parts = arm.split(" | ")
        if arm not in labels:
            known = labels.get(" | ".join(parts[:2]))
            labels[arm] = " · ".join([known, *parts[2:]]) if known else arm
    return labels


class _LineLoader(yaml.SafeLoader):
    """Rejects duplicate keys, which plain PyYAML would silently overwrite."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {seen[key].start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _node_at(root: yaml.Node, loc: tuple) -> yaml.Node:
    """The deepest YAML node on the pydantic error path ``loc`` (for an unknown key, the key itself)."""
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == str(part)]
            if not match:
                break
            key, value = match[0]
            node = value if part != loc[-1] else key
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            continue  # model names pydantic inserts (e.g. union branches)
    return node


def _fields_hint(loc: tuple) -> str:
    model: Any = ExperimentSpec
    for part in loc[:-1]:
        field = (
            model.model_fields.get(part) if isinstance(part, str) and hasattr(model, "model_fields") else None
        )
        if field is None:
            continue
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))[0]
        model = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else annotation
    fields = getattr(model, "model_fields", None)
    return f" Allowed keys here: {', '.join(fields)}." if fields else ""


def parse_spec(text: str, source: str = "<spec>") -> ExperimentSpec:
    """Parse and validate spec YAML; every error names ``source:line``, the field and what to do."""
    try:
        root = yaml.compose(text, Loader=_LineLoader)
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise SpecError(
            f"{source}{line}: not valid YAML: {getattr(error, 'problem', None) or error}. Fix the YAML syntax."
        ) from None
    if not isinstance(data, dict):
        raise SpecError(
            f"{source}:1: a spec is a YAML mapping (name:, providers:, methods: ...), got {type(data).__name__}."
        )
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as error:
        problems = []
        items = error.errors()
        inner = {item["loc"][0] for item in items if len(item["loc"]) > 1}
        for item in items:
            if item["type"] == "too_short" and item["loc"][:1] == item["loc"] and item["loc"][0] in inner:
                continue  # "at least 1 item" only because its one item was invalid (reported above)
            loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p[:1].isupper()))
            node = _node_at(root, loc)
            where = ".".join(str(p) for p in loc) or "(top level)"
            if item["type"] == "extra_forbidden":
                message = f"unknown key {loc[-1]!r}.{_did_you_mean_key(loc)}{_fields_hint(loc)}"
            else:
                message = item["msg"].removeprefix("Value error, ")
            problems.append(f"{source}:{node.start_mark.line + 1}: {where}: {message}")
        if len(problems) == 1:  # one message, one line
            raise SpecError(f"invalid experiment spec: {problems[0]}") from None
        raise SpecError("invalid experiment spec:\n  " + "\n  ".join(problems)) from None


def _did_you_mean_key(loc: tuple) -> str:
    from toolkit.registry import did_you_mean

    fields = _fields_hint(loc).removeprefix(" Allowed keys here: ").rstrip(".").split(", ")
    return did_you_mean(str(loc[-1]), fields)


def load_spec(path: str | Path) -> ExperimentSpec:
    path = Path(path)
    if not path.is_file():
        raise SpecError(
            f"{path}: no such spec file. Example specs are in experiments/ (e.g. experiments/quickstart.yaml)."
        )
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise SpecError(
            f"{path}:{line}:{column}: not UTF-8 (byte {data[error.start]:#x} at offset {error.start}). "
            "Re-save the spec as UTF-8."
        ) from None
    return parse_spec(text, source=str(path))
