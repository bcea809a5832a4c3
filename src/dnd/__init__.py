"""dnd: Drag-and-Drop LLMs. Unlabeled task prompts in, a PEFT LoRA adapter out."""

__version__ = "0.1.0"
