"""Wide-suite tasks from OpenAI evals data files (`evals==3.0.1.post1`, read, never imported).

SPECS lists (name, domain, answer_format, build) for the registry.
"""

from __future__ import annotations

SPECS: list[tuple] = []
