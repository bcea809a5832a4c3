"""Wide-suite tasks from reasoning-gym procedural generators (seeded, fixed item counts).

SPECS lists (name, domain, answer_format, build) for the registry.
"""

from __future__ import annotations

SPECS: list[tuple] = []
