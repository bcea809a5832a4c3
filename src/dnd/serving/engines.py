"""Which engine answers the chats of `dnd serve` (`--engine`, `--max-batch`):

    llamacpp      llama.cpp on the packaged GGUF, each tenant's adapter as a GGUF LoRA
                  (dnd.serving.llamacpp_engine)
    transformers  transformers + PEFT; with --max-batch above 1, requests that wait together
                  are decoded in one batch, each row with its own adapter
                  (dnd.serving.batched); --max-batch 1 is one request at a time
                  (dnd.serving.chat, the engine of earlier versions)

Every engine offers ChatEngine's interface: chat_ids, completion_ids, tokenizer, submit,
call (choice scoring, always transformers), shutdown.
"""

from __future__ import annotations

from dnd.errors import DndError

ENGINES = ("llamacpp", "transformers")


def make_engine(settings, base_name: str, lora, store):
    """The chat engine `settings` ask for, over `store`'s adapters of `base_name`."""
    limits = settings.limits
    if settings.engine == "llamacpp":
        from dnd.llamacpp.runtime import base_gguf
        from dnd.serving.llamacpp_engine import LlamaCppEngine

        try:
            base_gguf(base_name)
        except DndError as e:
            raise DndError(f"--engine llamacpp: {e}") from None
        return LlamaCppEngine(base_name, lora, store, settings.device, limits.max_queue,
                              workers=settings.llama_workers, threads=settings.llama_threads,
                              resident=settings.resident_adapters,
                              n_ctx=limits.max_input_tokens + limits.max_new_tokens,
                              weights=settings.llama_weights)
    if settings.engine != "transformers":
        raise DndError(f"--engine {settings.engine}: expected one of {', '.join(ENGINES)}")
    if settings.max_batch > 1:
        from dnd.serving.batched import BatchedEngine

        return BatchedEngine(base_name, lora, store, settings.device, limits.max_queue, max_batch=settings.max_batch)
    from dnd.serving.chat import ChatEngine

    return ChatEngine(base_name, lora, store, settings.device, limits.max_queue)
