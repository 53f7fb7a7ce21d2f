// The express and fastify guards hand clientKey the framework's own request type, while the
// adapters load neither framework (not even its types: test/layers.test.ts checks the runtime).
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { expect, it } from 'vitest';

import { root } from './helpers/handshake-fs.js';

const fixtures = path.join(root, 'test/fixtures/types');

function tsc(file: string): { status: number | null; output: string } {
  const run = spawnSync(
    process.execPath,
    [path.join(root, 'node_modules/typescript/bin/tsc'), '--ignoreConfig', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'ES2023', '--strict', '--noEmit', '--skipLibCheck', '--types', 'node', path.join(fixtures, file)],
    { encoding: 'utf8' },
  );
  return { status: run.status, output: run.stdout + run.stderr };
}

it("clientKey receives Express's Request and Fastify's FastifyRequest: inferred, annotated or given", () => {
  expect(tsc('framework-types.mts')).toEqual({ status: 0, output: '' });
}, 60_000);

it('the control: a method the framework\'s request does not have is a type error', () => {
  const { status, output } = tsc('misuse.mts');
  expect(status).not.toBe(0);
  expect(output).toContain("Property 'clientIdentity' does not exist");
}, 60_000);
