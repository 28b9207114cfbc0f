"""__NAME__: an override policy for stackpack, in Python (built with componentize-py).

It disables the resources of the kinds listed in its `disable-kinds` config
(comma-separated: action, alias, rule, sensor; `sensor` when unset) and abstains
(`keep`) on the others, so the next policy, then the pack's own metadata, decides.
A policy has no network: it is a pure function of its inputs and config.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.policy import PolicyInfo, ResourceKind, Verdict_Disable, Verdict_Keep
from wit_world.imports import host_base

KINDS = {
    ResourceKind.ACTION: "action",
    ResourceKind.ALIAS: "alias",
    ResourceKind.RULE: "rule",
    ResourceKind.SENSOR: "sensor",
}


class Policy(exports.Policy):
    def describe(self) -> PolicyInfo:
        return PolicyInfo(
            name="__NAME__",
            version="0.1.0",
            description="Disables the resource kinds listed in disable-kinds",
        )

    def decide(self, ctx, resources):
        kinds = host_base.config_get("disable-kinds")
        kinds = "sensor" if kinds is None else kinds
        listed = [k.strip() for k in kinds.split(",") if k.strip()]
        for bad in listed:
            if bad not in KINDS.values():
                raise Err(f"__NAME__: `disable-kinds` lists {bad!r}; use action, alias, "
                          "rule or sensor, comma-separated")
        verdicts = []
        for r in resources:
            kind = KINDS[r.kind]
            if kind in listed:
                verdicts.append(Verdict_Disable(
                    f"__NAME__: {kind}s are disabled on this site (disable-kinds = {kinds}); "
                    f"pack {ctx.pack.name}"))
            else:
                verdicts.append(Verdict_Keep())
        return verdicts
