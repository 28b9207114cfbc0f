"""python-policy: an example override policy written in Python.

It disables the resources (actions, aliases, rules, sensors) whose reference or name
matches a pattern from its config, except those matching an exception, and answers
`keep` for everything else, so the next policy (or the pack's own metadata) decides.

Config (`config = { ... }` in the operator's `[plugins.<name>]` section, or
`stackpack plugin add ... --set disable=...`):

- `disable`: required. Comma-separated shell-style patterns (`*`, `?`, `[abc]`), each
  matched against a resource's reference (`<pack>.<name>`) and against its bare name.
  A pattern may start with a kind, `action:`, `alias:`, `rule:` or `sensor:`, to match
  only that kind: `sensor:*` disables every sensor.
- `except`: optional, the same syntax: resources matching one of these are kept even
  when a `disable` pattern matches them.

An override policy has no network and no filesystem: it is a pure function of the
pack, its resources and its config. The decision itself is `decide_with`, which takes
the config values as arguments, so `test_app.py` runs it with plain python3.
"""

from fnmatch import fnmatchcase
from typing import List, Optional, Tuple

from wit_world import exports
from wit_world.exports.policy import (
    PackContext,
    PackResource,
    PolicyInfo,
    ResourceKind,
    Verdict,
    Verdict_Disable,
    Verdict_Keep,
)
from wit_world.imports import host_base
from componentize_py_types import Err

NAME = "python-policy"
VERSION = "0.1.0"

KINDS = {
    "action": ResourceKind.ACTION,
    "alias": ResourceKind.ALIAS,
    "rule": ResourceKind.RULE,
    "sensor": ResourceKind.SENSOR,
}

# A pattern: the kind it is limited to (None: every kind) and the glob itself.
Pattern = Tuple[Optional[ResourceKind], str]


def parse_patterns(key: str, text: Optional[str]) -> List[Pattern]:
    """The patterns of one config value; raises ValueError naming the bad entry."""
    patterns: List[Pattern] = []
    for entry in (text or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        kind: Optional[ResourceKind] = None
        head, sep, rest = entry.partition(":")
        if sep:
            if head not in KINDS:
                raise ValueError(
                    f"{NAME}: `{key}` entry `{entry}` starts with `{head}:`, which is not "
                    f"a resource kind; use one of {', '.join(k + ':' for k in KINDS)} "
                    "or no prefix"
                )
            kind, entry = KINDS[head], rest.strip()
            if not entry:
                raise ValueError(f"{NAME}: `{key}` entry `{head}:` has no pattern after the kind")
        patterns.append((kind, entry))
    return patterns


def matching(patterns: List[Pattern], resource: PackResource) -> Optional[str]:
    """The first pattern matching the resource, as written in the config, or None."""
    for kind, glob in patterns:
        if kind is not None and kind != resource.kind:
            continue
        if fnmatchcase(resource.ref, glob) or fnmatchcase(resource.name, glob):
            return glob if kind is None else f"{resource.kind.name.lower()}:{glob}"
    return None


def decide_with(
    disable: Optional[str],
    keep: Optional[str],
    ctx: PackContext,
    resources: List[PackResource],
) -> List[Verdict]:
    """One verdict per resource, index-aligned. Raises ValueError on a bad config."""
    disabled = parse_patterns("disable", disable)
    if not disabled:
        raise ValueError(
            f"{NAME}: `disable` is not configured, so there is nothing to decide; set it, "
            f"e.g. `stackpack plugin add python_policy.wasm --sha256 <hex> "
            f"--set 'disable=sensor:*,*.dangerous_*'` or "
            f"[plugins.<name>] config = {{ disable = \"sensor:*\" }}"
        )
    kept = parse_patterns("except", keep)
    verdicts: List[Verdict] = []
    for resource in resources:
        hit = matching(disabled, resource)
        if hit is None or matching(kept, resource) is not None:
            verdicts.append(Verdict_Keep())
        else:
            verdicts.append(
                Verdict_Disable(f"{resource.ref} matches the disable pattern `{hit}`")
            )
    return verdicts


class Policy(exports.Policy):
    def describe(self) -> PolicyInfo:
        return PolicyInfo(
            name=NAME,
            version=VERSION,
            description="Disables the resources whose reference or name matches configured patterns",
        )

    def decide(self, ctx: PackContext, resources: List[PackResource]) -> List[Verdict]:
        try:
            return decide_with(
                host_base.config_get("disable"), host_base.config_get("except"), ctx, resources
            )
        except ValueError as e:
            # The `result` error case: the host reports it naming this plugin and the pack.
            raise Err(str(e))
