"""The pure core: stdlib only (tests/bot/core/test_import_contract.py).

`bot.core.gates` is imported first: its default gate list includes the evaluation gate of
`bot.core.evaluation`, which itself builds on the gate types.
"""

from bot.core import gates as _gates  # noqa: F401
