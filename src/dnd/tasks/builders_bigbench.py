"""The `unseen` suite: BIG-bench JSON tasks, for evaluation only.

SPECS lists (name, domain, answer_format, build) for the registry.
"""

from __future__ import annotations

CANARY = "BIG-bench data carries a canary asking that it never be used for training"
EVAL_SIZE = 300
SPECS: list[tuple] = []
