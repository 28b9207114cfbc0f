"""python-resolver: an example source resolver written in Python.

It claims references of the form `corp:<name>` and `corp:<name>=<version>` and
resolves them to the git repository `<git-base>/<name>.git` of your git server:

- `corp:<name>`: the repository's default branch, with no network call;
- `corp:<name>=<version>`: the tag `<version>` or `v<version>` (else a branch of that
  name), found with `git ls-remote`, which the host performs for the plugin
  (`git-list-refs`) against the hosts the operator granted it; a version the
  repository does not have is "not found", naming the versions it does have.

`stackpack` asks `list-versions` for the repository's tags (newest first).

Config (`config = { ... }` in the operator's `[plugins.<name>]` section, or
`stackpack plugin add ... --set git-base=...`):

- `git-base`: required, e.g. `https://git.corp.example/packs`; a `{name}` in it is
  replaced by the pack name instead (`https://git.corp.example/{name}/pack.git`).
- `prefix`: optional, the reference scheme this resolver claims (default `corp`).

The decisions are plain functions taking the config and the refs as values, so
`test_app.py` runs them with python3.
"""

import re
from typing import List, Optional, Tuple

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.resolver import Resolved, ResolverInfo
from wit_world.imports import host_base, net
from wit_world.imports.types import (
    GitRef,
    GitRef_Branch,
    GitRef_DefaultBranch,
    GitRef_Tag,
    GitSource,
    PackRef,
    PackSummary,
    PluginError,
    PluginError_Denied,
    PluginError_InvalidReference,
    PluginError_NotApplicable,
    PluginError_NotFound,
    PluginError_Other,
    PluginError_Unavailable,
    Resolution_Git,
    VersionInfo,
)

NAME = "python-resolver"
VERSION = "0.1.0"

# StackStorm pack names: lowercase letters, digits and underscores.
PACK_NAME = re.compile(r"[a-z0-9_]+")


class Refused(Exception):
    """A refusal to hand back to the host as the `plugin-error` it carries."""

    def __init__(self, error: PluginError):
        super().__init__(error)
        self.error = error


def claimed(prefix: str, locator: str) -> Optional[str]:
    """The pack name of a reference this resolver owns, or None when it is not ours."""
    head = f"{prefix}:"
    if not locator.startswith(head):
        return None
    name = locator[len(head):]
    if not PACK_NAME.fullmatch(name):
        raise Refused(
            PluginError_InvalidReference(
                f"`{locator}`: a pack name is lowercase letters, digits and underscores, "
                f"as in `{prefix}:my_pack`"
            )
        )
    return name


def repo_url(git_base: Optional[str], prefix: str, name: str) -> str:
    """The repository of pack `name` under the configured base."""
    base = (git_base or "").strip()
    if not base:
        raise Refused(
            PluginError_Other(
                f"{NAME}: `git-base` is not configured, so `{prefix}:{name}` has no "
                "repository; set it, e.g. `stackpack plugin add python_resolver.wasm "
                "--sha256 <hex> --grant https://git.corp.example "
                "--set git-base=https://git.corp.example/packs`"
            )
        )
    if "{name}" in base:
        return base.replace("{name}", name)
    return f"{base.rstrip('/')}/{name}.git"


def origin(url: str) -> Optional[str]:
    """`scheme://host[:port]` of an http(s) URL, as grants are written."""
    m = re.match(r"(https?://[^/?#]+)", url)
    return m.group(1).lower() if m else None


def tags(refs: List[Tuple[str, str]]) -> List[str]:
    """Tag names from `git ls-remote` output, without the peeled `^{}` entries."""
    out = []
    for name, _ in refs:
        if name.startswith("refs/tags/") and not name.endswith("^{}"):
            out.append(name[len("refs/tags/"):])
    return out


def version_key(tag: str):
    """Sorts `1.10.0` after `1.9.0`; a tag that is not numeric sorts first."""
    parts = re.findall(r"\d+", tag)
    return (len(parts) > 0, [int(p) for p in parts], tag)


def versions(refs: List[Tuple[str, str]]) -> List[VersionInfo]:
    """The repository's tags as versions, newest first, `v` prefix dropped."""
    found = sorted(tags(refs), key=version_key, reverse=True)
    return [VersionInfo(version=t[1:] if re.match(r"v\d", t) else t, ref=t, yanked=False) for t in found]


def pick(requested: str, url: str, refs: List[Tuple[str, str]]) -> GitRef:
    """The tag `<requested>` or `v<requested>`, else the branch `<requested>`."""
    names = tags(refs)
    for candidate in (requested, f"v{requested}"):
        if candidate in names:
            return GitRef_Tag(candidate)
    if any(name == f"refs/heads/{requested}" for name, _ in refs):
        return GitRef_Branch(requested)
    have = ", ".join(v.version for v in versions(refs)[:10]) or "none"
    raise Refused(
        PluginError_NotFound(
            f"{url} has no tag `{requested}` or `v{requested}` and no branch `{requested}`; "
            f"its versions: {have}"
        )
    )


def net_refusal(url: str, e: net.NetError) -> Refused:
    """A `git ls-remote` failure as the refusal that tells the operator what to do."""
    if isinstance(e, net.NetError_Denied):
        return Refused(
            PluginError_Denied(
                f"{e.value}; grant this plugin the git server: "
                f"`stackpack plugin add ... --grant {origin(url) or url}`"
            )
        )
    if isinstance(e, net.NetError_Offline):
        return Refused(PluginError_Unavailable(f"cannot list the tags of {url}: offline"))
    if isinstance(e, net.NetError_Timeout):
        return Refused(PluginError_Unavailable(f"listing the tags of {url} timed out"))
    if isinstance(e, net.NetError_TooLarge):
        return Refused(PluginError_Other(f"the tag list of {url} is over {e.value} bytes"))
    return Refused(PluginError_Unavailable(f"cannot list the tags of {url}: {e.value}"))


def list_refs(url: str) -> List[Tuple[str, str]]:
    try:
        return [(r.name, r.commit) for r in net.git_list_refs(url)]
    except Err as e:
        raise net_refusal(url, e.value)


def prefix() -> str:
    return (host_base.config_get("prefix") or "corp").strip() or "corp"


def resolve_with(git_base: Optional[str], prefix: str, ref: PackRef, ls_remote) -> Resolved:
    """Resolves `ref`; `ls_remote(url)` lists a repository's refs (only called for a
    requested version). Raises Refused."""
    name = claimed(prefix, ref.locator)
    if name is None:
        raise Refused(PluginError_NotApplicable())
    url = repo_url(git_base, prefix, name)
    git_ref: GitRef = GitRef_DefaultBranch()
    if ref.requested:
        git_ref = pick(ref.requested, url, ls_remote(url))
    return Resolved(
        resolution=Resolution_Git(GitSource(url=url, ref=git_ref, subdir=None)),
        canonical=f"{prefix}:{name}",
        summary=PackSummary(name=name, version=ref.requested, description=None, metadata=[]),
    )


class Resolver(exports.Resolver):
    def describe(self) -> ResolverInfo:
        base = host_base.config_get("git-base") or ""
        hosts = [o for o in [origin(base)] if o]
        return ResolverInfo(
            name=NAME,
            version=VERSION,
            description=f"Resolves {prefix()}:<name> to a repository of the corporate git server",
            handles=[f"{prefix()}:<name>[=<version>]"],
            requested_hosts=hosts,
        )

    def resolve(self, reference: PackRef) -> Resolved:
        try:
            return resolve_with(host_base.config_get("git-base"), prefix(), reference, list_refs)
        except Refused as r:
            raise Err(r.error)

    def list_versions(self, reference: PackRef) -> List[VersionInfo]:
        try:
            name = claimed(prefix(), reference.locator)
            if name is None:
                raise Refused(PluginError_NotApplicable())
            url = repo_url(host_base.config_get("git-base"), prefix(), name)
            return versions(list_refs(url))
        except Refused as r:
            raise Err(r.error)
