"""The errors the pure core raises; `bot.errors` re-exports them and builds the rest on them.

They live here, not in `bot.errors`, so the core imports nothing outside itself (the import
contract in tests/bot/core/test_import_contract.py) and the CLI still maps them to exit codes.
"""

from __future__ import annotations


class BotError(Exception):
    """Base of every error the bot raises on purpose (exit code 1)."""


class PolicyError(BotError):
    """`promotion.yaml` is missing, malformed or invalid; the message names the field (exit 2)."""
