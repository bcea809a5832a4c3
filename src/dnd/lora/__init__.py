"""The LoRA ground floor: what every other floor (zoo, generator, evaluation, serving) needs
to know about a LoRA adapter. PEFT's names throughout (r, lora_alpha, target_modules,
lora_A, lora_B).

settings.py  LoraSettings (the adapter's shape) and its scale
attach.py    a fresh LoRA on a base model, its weights off it, the precision of the rest
io.py        adapter directories: read the weights (safetensors only) and the settings,
             write adapter_config.json without importing peft
swap.py      AdapterModel: one base model, many adapters swapped in place
combine.py   averaging adapters, and concatenating two adapters' ranks into one
prompt.py    the chat formatting an adapter is trained and scored under
train.py     the one LoRA training loop (the zoo's and the full-shot baseline's)
"""
