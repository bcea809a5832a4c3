"""llama.cpp side of dnd: PEFT LoRA adapters as GGUF LoRA files (export.py), the packaged
base model run by llama-cpp-python (runtime.py), and `dnd serve --engine llamacpp`
(dnd.serving.llamacpp_engine)."""
