// The architecture, checked on what ships: the import graph of dist/ (the compiled CommonJS, as
// users load it). Modules sit in layers, each importing only its own layer or those below; there
// are no cycles; and the guards and the client load neither the file handshake, nor the engine
// and its addon, nor node:fs or node:crypto.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { root } from './helpers/handshake-fs.js';

const DIST = path.join(root, 'dist');

/** Layer of each module, by path under dist/ (first match wins). Lower layers know nothing of higher ones. */
const LAYERS: Array<[RegExp, number, string]> = [
  [/^(internal\/.*|errors)\.js$/, 0, 'the floor: errors, option checks, the code parser, step arithmetic, file-system helpers'],
  [/^(base32|uri|options|events|verifier)\.js$/, 1, 'formats, TOTP options and limits, the audit vocabulary, the verifier contract'],
  [/^engine\/.*\.js$/, 2, 'the engines and the one loader'],
  [/^(key|hotp|once|otp-key|secret)\.js$/, 3, 'the keys and one-shot codes'],
  [/^(handshake|cluster)\/.*\.js$/, 4, 'the file handshake and the keyring in etcd'],
  [/^(http|client|compat)\/.*\.js$/, 5, 'the guards, the client, the compat layers'],
  [/^(cli|index)\.js$|^demo\/.*\.js$/, 6, 'the faces'],
];

function layerOf(module: string): number {
  const found = LAYERS.find(([pattern]) => pattern.test(module));
  if (found === undefined) throw new Error(`${module} is in no layer: add it to LAYERS in test/layers.test.ts`);
  return found[1];
}

function modules(dir = DIST, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const name = `${prefix}${entry.name}`;
    if (entry.isDirectory()) return name === 'esm' ? [] : modules(path.join(dir, entry.name), `${name}/`);
    return name.endsWith('.js') ? [name] : [];
  });
}

/** What a compiled module loads when it is loaded: its top-level require()s (a dynamic import() is not one). */
function imports(module: string): { local: string[]; external: string[] } {
  const source = readFileSync(path.join(DIST, module), 'utf8');
  const local: string[] = [];
  const external: string[] = [];
  for (const [, specifier] of source.matchAll(/\brequire\("([^"]+)"\)/g)) {
    if (specifier === undefined) continue;
    if (specifier.startsWith('.')) local.push(path.posix.normalize(path.posix.join(path.posix.dirname(module), specifier)));
    else external.push(specifier);
  }
  return { local, external };
}

const all = modules();
const graph = new Map(all.map((module) => [module, imports(module)]));

/** Every module `entry` loads, itself included, and every external specifier among them. */
function closure(entry: string): { modules: Set<string>; external: Set<string> } {
  const seen = new Set<string>();
  const external = new Set<string>();
  const visit = (module: string): void => {
    if (seen.has(module)) return;
    seen.add(module);
    const node = graph.get(module);
    if (node === undefined) throw new Error(`${module} is imported but not built`);
    for (const name of node.external) external.add(name);
    for (const next of node.local) visit(next);
  };
  visit(entry);
  return { modules: seen, external };
}

describe('the layers of dist/', () => {
  it('has every module in a layer', () => {
    expect(all.length).toBeGreaterThan(30);
    for (const module of all) expect(() => layerOf(module), module).not.toThrow();
  });

  it('has no import running up the layers', () => {
    const upward = [...graph].flatMap(([module, { local }]) =>
      local.filter((target) => layerOf(target) > layerOf(module)).map((target) => `${module} (layer ${layerOf(module)}) -> ${target} (layer ${layerOf(target)})`),
    );
    expect(upward).toEqual([]);
  });

  it('has no cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (module: string, trail: string[]): void => {
      if (state.get(module) === 'done') return;
      if (state.get(module) === 'open') {
        cycles.push([...trail.slice(trail.indexOf(module)), module].join(' -> '));
        return;
      }
      state.set(module, 'open');
      for (const next of graph.get(module)?.local ?? []) visit(next, [...trail, module]);
      state.set(module, 'done');
    };
    for (const module of all) visit(module, []);
    expect(cycles).toEqual([]);
  });
});

describe.each([
  ['totp-handshake/express', 'http/express.js'],
  ['totp-handshake/fastify', 'http/fastify.js'],
  ['totp-handshake/fetch', 'http/fetch.js'],
  ['totp-handshake/http', 'http/node.js'],
  ['totp-handshake/client', 'client/index.js'],
])('%s', (_, entry) => {
  const loaded = closure(entry);

  it('loads neither the file handshake nor the keys, the engine or the addon', () => {
    expect([...loaded.modules].filter((module) => /^(handshake|engine)\/|^key\.js$/.test(module))).toEqual([]);
  });

  it('loads no node:fs, node:crypto or native loader', () => {
    const forbidden = /^(node:)?(fs|fs\/promises|crypto)$|^node-gyp-build$/;
    expect([...loaded.external].filter((name) => forbidden.test(name))).toEqual([]);
  });

  it('loads only what it needs from below: the verifier contract, the audit events, the option checks', () => {
    // A guard is a thin adapter over the decision core; it shares nothing with the handshake.
    expect([...loaded.modules].every((module) => layerOf(module) !== 4)).toBe(true);
  });
});

it('the fetch guard loads nothing Node-specific at all', () => {
  const { external } = closure('http/fetch.js');
  expect([...external]).toEqual([]);
});
