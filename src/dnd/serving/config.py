"""Server settings and limits (every limit is a `dnd serve` flag)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class ServeLimits:
    """What one request may ask for. Requests beyond a limit get a 4xx JSON error."""

    max_body_bytes: int = 4 * 1024 * 1024  # whole request body (an uploaded prompts file included)
    max_prompts: int = 2048  # prompts in one adapter request
    max_prompt_chars: int = 8000  # characters of one prompt
    max_description_chars: int = 2000
    max_new_tokens: int = 512  # generation length cap (max_tokens above it is refused)
    default_new_tokens: int = 128  # when a request gives no max_tokens
    max_input_tokens: int = 2048  # tokens of a formatted chat/completion prompt
    max_messages: int = 64
    request_timeout_s: float = 120.0  # queue wait + generation of one request
    max_queue: int = 256  # generation requests waiting at once (more: 503)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "ServeLimits":
        return cls(**d)


@dataclass(frozen=True)
class ServeSettings:
    """One `dnd serve` process: a generator, its base model, and where adapters live."""

    generator: str
    data: str
    host: str = "127.0.0.1"
    port: int = 8000
    device: str = "cpu"
    far_threshold: float = 0.5  # nearest training task below this cosine: "out of domain"
    task_index_prompts: int = 64  # train-pool prompts per training task in its mean embedding
    note_max_tokens: int = 128  # word pieces of each prompt the note's embeddings read
    note_prompts: int = 32  # dropped prompts embedded for the note (a seeded sample)
    state_cache: int = 8  # adapters kept in memory (LRU)
    engine: str = "transformers"  # "transformers" or "llamacpp" (dnd.serving.engines); the CLI's default differs
    max_batch: int = 1  # transformers: greedy requests decoded together in one batch (1: one at a time)
    llama_workers: int = 2  # llamacpp: contexts decoding at once
    llama_threads: int = 1  # llamacpp: threads per context
    resident_adapters: int = 8  # llamacpp: GGUF LoRAs loaded per context (LRU)
    llama_weights: str = "f16"  # llamacpp: the packaged GGUF's weights as "f16" (faster prompts) or "q4_1"
    limits: ServeLimits = field(default_factory=ServeLimits)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "ServeSettings":
        return cls(**{**d, "limits": ServeLimits.from_json(d.get("limits", {}))})
