"""What `hold`, `unhold` and `rollback` report: one enumerated action, printed as before."""

from __future__ import annotations

import json

from bot.proposal import ProposalAction, ProposalOutcome


def test_the_action_is_an_enum_whose_values_are_the_printed_words():
    assert [a.value for a in ProposalAction] == [
        "noop",
        "push+create",
        "push+update",
        "close",
        "push",
    ]
    opened = ProposalOutcome("dev", ProposalAction.PUSH_CREATE, "why", 3, "http://pr/3")
    assert opened.wrote and not ProposalOutcome("dev", ProposalAction.NOOP, "why").wrote
    assert f"{opened.env}: {opened.action}" == "dev: push+create"  # the CLI's line
    as_dict = opened.to_dict()
    assert type(as_dict["action"]) is str  # `--json` and the API carry the plain word
    assert json.loads(json.dumps(as_dict, sort_keys=True)) == {
        "env": "dev",
        "action": "push+create",
        "reason": "why",
        "pr_number": 3,
        "url": "http://pr/3",
    }
