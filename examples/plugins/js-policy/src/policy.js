// js-policy: an example override policy written in JavaScript and built with
// `jco componentize` (world `override-policy` of stackpack:plugin@0.1.0).
//
// It disables every resource of the kinds named in the `disable-kinds` config value
// (default: "sensor"), except in the packs named in `allow-packs`, and abstains
// (`keep`) on everything else, so the next policy (or the pack's own metadata) decides.
//
// Config (`--set key=value` at `plugin add`, or `config = { ... }` in the operator's
// `[plugins.js-policy]` section):
//   disable-kinds  comma-separated resource kinds: action, alias, rule, sensor
//   allow-packs    comma-separated pack names this policy never disables anything in
//
// How the WIT maps to JavaScript: the exported interface `policy` is the exported
// object `policy`; records are objects with camelCase fields (`%ref` is `ref`); enums
// are strings ("sensor"); a variant is `{ tag, val }`; `option<T>` is the value or
// `undefined`; a `result<T, string>` is returned as T, and a thrown string is its error.

import { configGet, log } from 'stackpack:plugin/host-base@0.1.0';

const KINDS = ['action', 'alias', 'rule', 'sensor'];

/** Splits a comma-separated config value into trimmed, non-empty items. */
function list(value) {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export const policy = {
  describe() {
    return {
      name: 'js-policy',
      version: '0.1.0',
      description: 'Disables the resources of the configured kinds, except in allowed packs',
    };
  },

  decide(ctx, resources) {
    const kinds = list(configGet('disable-kinds') ?? 'sensor');
    const unknown = kinds.filter((k) => !KINDS.includes(k));
    if (unknown.length > 0) {
      // A misconfiguration fails the decision rather than guess what was meant.
      throw `js-policy: unknown resource kind(s) in disable-kinds: ${unknown.join(', ')}; ` +
        `use ${KINDS.join(', ')}`;
    }
    const allowed = list(configGet('allow-packs'));
    const pack = ctx.pack.name;
    if (allowed.includes(pack)) {
      log('debug', `${pack} is in allow-packs: keeping all ${resources.length} resources`);
      return resources.map(() => ({ tag: 'keep' }));
    }
    return resources.map((r) =>
      kinds.includes(r.kind)
        ? { tag: 'disable', val: `js-policy: ${r.kind}s are disabled outside allow-packs (${r.ref} from ${ctx.source})` }
        : { tag: 'keep' },
    );
  },
};
