"""Unit tests of the resolver's logic, run with plain python3 against generated
bindings:

    componentize-py -d ../../../wit -w source-resolver bindings bindings
    PYTHONPATH=bindings python3 -m unittest -v
"""

import unittest

from wit_world.imports.types import (
    GitRef_Branch,
    GitRef_DefaultBranch,
    GitRef_Tag,
    PackRef,
    PluginError_InvalidReference,
    PluginError_NotApplicable,
    PluginError_NotFound,
    PluginError_Other,
)

from app import Refused, resolve_with, versions

BASE = "https://git.corp.example/packs"
REFS = [
    ("HEAD", "a" * 40),
    ("refs/heads/main", "a" * 40),
    ("refs/heads/next", "b" * 40),
    ("refs/tags/v1.9.0", "c" * 40),
    ("refs/tags/v1.10.0", "d" * 40),
    ("refs/tags/v1.10.0^{}", "e" * 40),
    ("refs/tags/2.0.0", "f" * 40),
]


def ref(raw: str) -> PackRef:
    locator, _, requested = raw.partition("=")
    return PackRef(raw=raw, locator=locator, requested=requested or None)


def no_network(url):
    raise AssertionError(f"no listing expected, got {url}")


def refusal(base, raw, ls_remote=lambda url: REFS):
    with unittest.TestCase().assertRaises(Refused) as caught:
        resolve_with(base, "corp", ref(raw), ls_remote)
    return caught.exception.error


class Resolve(unittest.TestCase):
    def test_a_bare_name_is_the_default_branch_without_network(self):
        got = resolve_with(BASE, "corp", ref("corp:sensu"), no_network)
        self.assertEqual(got.resolution.value.url, "https://git.corp.example/packs/sensu.git")
        self.assertIsInstance(got.resolution.value.ref, GitRef_DefaultBranch)
        self.assertEqual(got.canonical, "corp:sensu")

    def test_a_version_is_the_tag_with_or_without_v(self):
        seen = []
        got = resolve_with(BASE + "/", "corp", ref("corp:sensu=1.10.0"), lambda u: seen.append(u) or REFS)
        self.assertEqual(got.resolution.value.ref, GitRef_Tag("v1.10.0"))
        self.assertEqual(seen, ["https://git.corp.example/packs/sensu.git"])
        got = resolve_with(BASE, "corp", ref("corp:sensu=2.0.0"), lambda u: REFS)
        self.assertEqual(got.resolution.value.ref, GitRef_Tag("2.0.0"))
        got = resolve_with(BASE, "corp", ref("corp:sensu=next"), lambda u: REFS)
        self.assertEqual(got.resolution.value.ref, GitRef_Branch("next"))

    def test_a_missing_version_names_the_versions_there_are(self):
        err = refusal(BASE, "corp:sensu=3.0.0")
        self.assertIsInstance(err, PluginError_NotFound)
        self.assertIn("no tag `3.0.0` or `v3.0.0`", err.value)
        self.assertIn("its versions: 2.0.0, 1.10.0, 1.9.0", err.value)

    def test_a_name_placeholder_places_the_name(self):
        got = resolve_with("https://h.example/{name}/pack.git", "corp", ref("corp:x_1"), no_network)
        self.assertEqual(got.resolution.value.url, "https://h.example/x_1/pack.git")

    def test_other_references_are_not_ours(self):
        for raw in ("sensu", "owner/repo", "https://github.com/a/b", "corpx:sensu"):
            self.assertIsInstance(refusal(BASE, raw, no_network), PluginError_NotApplicable)

    def test_bad_names_and_missing_config_say_what_to_do(self):
        for raw in ("corp:", "corp:Sensu", "corp:a/b", "corp:../x"):
            self.assertIsInstance(refusal(BASE, raw, no_network), PluginError_InvalidReference)
        err = refusal(None, "corp:sensu", no_network)
        self.assertIsInstance(err, PluginError_Other)
        self.assertIn("--set git-base=", err.value)


class Versions(unittest.TestCase):
    def test_tags_newest_first_without_peeled_entries(self):
        got = [(v.version, v.ref) for v in versions(REFS)]
        self.assertEqual(got, [("2.0.0", "2.0.0"), ("1.10.0", "v1.10.0"), ("1.9.0", "v1.9.0")])


if __name__ == "__main__":
    unittest.main()
