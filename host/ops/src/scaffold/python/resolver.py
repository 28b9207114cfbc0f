"""__NAME__: a source resolver for stackpack, in Python (built with componentize-py).

It claims references `__NAME__:<pack>[=<version>]` and asks a pack service,
`GET <service-url>/packs/<pack>`, which answers a JSON object such as
`{"git_url": "https://git.example.com/hello.git", "ref": "v1.0.0"}` (optionally with
`name`, `version` and `description`), or 404 when it has no such pack. Every other
reference is not-applicable: the next resolver gets it.

Config: `service-url`, the service's base URL (its origin is what `describe` asks the
operator to grant). The plugin does no I/O itself: `http_get` and `config_get` are
host imports, and the host lets it reach only the hosts the operator granted.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.resolver import Resolved, ResolverInfo
from wit_world.imports import host_base, net
from wit_world.imports.types import (
    GitRef_Any,
    GitRef_DefaultBranch,
    GitSource,
    PackSummary,
    PluginError_Denied,
    PluginError_InvalidReference,
    PluginError_NotApplicable,
    PluginError_NotFound,
    PluginError_Other,
    PluginError_Unavailable,
    Resolution_Git,
)

PREFIX = "__NAME__:"
SERVICE_URL = "service-url"


def origin(url):
    """`scheme://host[:port]` of an http(s) URL, or None."""
    scheme, sep, rest = (url or "").strip().partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None
    host = rest.split("/")[0].split("?")[0].split("#")[0].rsplit("@", 1)[-1]
    return f"{scheme.lower()}://{host.lower()}" if host else None


def text(entry, key):
    """A non-empty string field of the service's answer, or None."""
    value = entry.get(key)
    return value.strip() or None if isinstance(value, str) else None


class Resolver(exports.Resolver):
    def describe(self) -> ResolverInfo:
        wanted = origin(host_base.config_get(SERVICE_URL))
        return ResolverInfo(
            name="__NAME__",
            version="0.1.0",
            description="Packs from a pack service (__NAME__:<pack>[=<version>])",
            handles=["__NAME__:<pack>"],
            requested_hosts=[wanted] if wanted else [],
        )

    def resolve(self, reference) -> Resolved:
        raw = reference.raw.strip()
        locator = reference.locator.strip()
        if not locator.startswith(PREFIX):
            raise Err(PluginError_NotApplicable())
        name = locator[len(PREFIX):]
        if not name or not all(c.isascii() and (c.isalnum() or c in "-_") for c in name):
            raise Err(PluginError_InvalidReference(
                f'"{raw}": expected {PREFIX}<pack>[=<version>], the pack name made of '
                "letters, digits, '-' and '_'"))
        service = (host_base.config_get(SERVICE_URL) or "").strip().rstrip("/")
        if origin(service) is None:
            raise Err(PluginError_Other(
                f'cannot resolve "{raw}": set an http(s) `{SERVICE_URL}` in the plugin\'s '
                f'config: [plugins.__NAME__] config = {{ {SERVICE_URL} = "https://packs.example.com" }}'))
        url = f"{service}/packs/{name}"
        try:
            answer = net.http_get(net.HttpRequest(url=url, headers=[("accept", "application/json")]))
        except Err as e:
            if isinstance(e.value, net.NetError_Denied):
                raise Err(PluginError_Denied(
                    f'"{raw}": cannot ask {url}: {e.value.value}; grant it with '
                    f"`--grant {origin(url)}`"))
            raise Err(PluginError_Unavailable(f'"{raw}": cannot ask {url}: {e.value}'))
        if answer.status == 404:
            raise Err(PluginError_NotFound(f'"{raw}": {url} has no pack "{name}" (HTTP 404)'))
        if answer.status != 200:
            raise Err(PluginError_Unavailable(f'"{raw}": {url} answered HTTP {answer.status}'))
        try:
            entry = json.loads(bytes(answer.body))
        except ValueError as e:
            raise Err(PluginError_Other(f'"{raw}": {url} sent invalid JSON: {e}'))
        git_url = text(entry, "git_url") if isinstance(entry, dict) else None
        if git_url is None:
            raise Err(PluginError_Other(f'"{raw}": {url} sent no "git_url"'))
        # The user's `=<version>` wins over the ref the service suggests.
        wanted = reference.requested or text(entry, "ref")
        git_ref = GitRef_Any(wanted) if wanted else GitRef_DefaultBranch()
        return Resolved(
            resolution=Resolution_Git(GitSource(url=git_url, ref=git_ref, subdir=None)),
            canonical=PREFIX + name,
            summary=PackSummary(
                name=text(entry, "name") or name,
                version=text(entry, "version"),
                description=text(entry, "description"),
                metadata=[],
            ),
        )

    def list_versions(self, reference):
        raise Err(PluginError_NotApplicable())
