"""Unit tests of the decision logic, run with plain python3 against generated bindings:

    componentize-py -d ../../../wit -w override-policy bindings bindings
    PYTHONPATH=bindings python3 -m unittest -v
"""

import unittest

from wit_world.exports.policy import (
    PackContext,
    PackResource,
    ResourceKind,
    Verdict_Disable,
    Verdict_Keep,
)
from wit_world.imports.types import PackSummary

from app import decide_with


def ctx() -> PackContext:
    return PackContext(
        pack=PackSummary(name="ops", version="1.0.0", description=None, metadata=[]),
        source="git:gitlab.corp.example/ops@0123abcd",
        environment="prod",
        overrides=[],
    )


def res(kind: ResourceKind, name: str) -> PackResource:
    return PackResource(
        kind=kind, ref=f"ops.{name}", name=name, enabled=True, file=f"{name}.yaml", metadata=[]
    )


RESOURCES = [
    res(ResourceKind.ACTION, "restart_db"),
    res(ResourceKind.ACTION, "status"),
    res(ResourceKind.SENSOR, "watcher"),
    res(ResourceKind.RULE, "on_alert"),
]


def shown(verdicts):
    return [
        "keep" if isinstance(v, Verdict_Keep) else f"disable: {v.value}"
        for v in verdicts
    ]


class DecideWith(unittest.TestCase):
    def test_patterns_match_refs_and_names(self):
        got = decide_with("ops.restart_*, on_alert", None, ctx(), RESOURCES)
        self.assertEqual(
            shown(got),
            [
                "disable: ops.restart_db matches the disable pattern `ops.restart_*`",
                "keep",
                "keep",
                "disable: ops.on_alert matches the disable pattern `on_alert`",
            ],
        )

    def test_a_kind_prefix_limits_a_pattern_to_that_kind(self):
        got = decide_with("sensor:*", None, ctx(), RESOURCES)
        self.assertEqual([type(v) for v in got], [Verdict_Keep, Verdict_Keep, Verdict_Disable, Verdict_Keep])
        self.assertIn("`sensor:*`", got[2].value)

    def test_exceptions_win(self):
        got = decide_with("*", "status, rule:*", ctx(), RESOURCES)
        self.assertEqual([type(v) for v in got], [Verdict_Disable, Verdict_Keep, Verdict_Disable, Verdict_Keep])

    def test_matching_is_case_sensitive_and_whole(self):
        # `restart` alone matches neither `ops.restart_db` nor `restart_db`.
        got = decide_with("restart, OPS.*", None, ctx(), RESOURCES)
        self.assertEqual(shown(got), ["keep"] * 4)

    def test_missing_config_is_an_error_that_says_how_to_set_it(self):
        for value in (None, "", "  ", " , "):
            with self.assertRaises(ValueError) as caught:
                decide_with(value, None, ctx(), RESOURCES)
            self.assertIn("`disable` is not configured", str(caught.exception))
            self.assertIn("--set", str(caught.exception))

    def test_an_unknown_kind_prefix_is_an_error_naming_it(self):
        with self.assertRaises(ValueError) as caught:
            decide_with("sensors:*", None, ctx(), RESOURCES)
        self.assertIn("`sensors:*`", str(caught.exception))
        self.assertIn("sensor:", str(caught.exception))

    def test_no_resources_no_verdicts(self):
        self.assertEqual(decide_with("*", None, ctx(), []), [])


if __name__ == "__main__":
    unittest.main()
