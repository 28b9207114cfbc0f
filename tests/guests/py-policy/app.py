"""A minimal override policy in Python, built with componentize-py against the
`override-policy` world of wit/plugin.wit. It disables every sensor of a pack and
abstains on everything else. The test suite builds it to check that a CPython-based
component loads, runs and reports its verdicts within the runtime's limits."""

from typing import List

from wit_world import exports
from wit_world.exports import policy
from wit_world.imports import host_base


class Policy(exports.Policy):
    def describe(self) -> policy.PolicyInfo:
        return policy.PolicyInfo(
            name="py-policy",
            version="0.1.0",
            description="Disables every sensor (a Python test policy)",
        )

    def decide(
        self, ctx: policy.PackContext, resources: List[policy.PackResource]
    ) -> List[policy.Verdict]:
        reason = host_base.config_get("reason") or "python policy: no sensors"
        verdicts: List[policy.Verdict] = []
        for r in resources:
            if r.kind == policy.ResourceKind.SENSOR:
                verdicts.append(policy.Verdict_Disable(f"{reason} ({ctx.pack.name})"))
            else:
                verdicts.append(policy.Verdict_Keep())
        return verdicts
