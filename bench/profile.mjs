#!/usr/bin/env node
// npm run profile: clinic doctor and clinic flame on the guarded node:http server
// (bench/http/server.mjs --modes guard) under autocannon load (bench/http/load.mjs), HTML reports
// written under .clinic/. clinic is 155 MB, so it runs through `npx -y clinic@13` on demand
// rather than as a dependency; NO_INSIGHT=1 is set because clinic otherwise exits silently, with
// status 0, when stdout is not a terminal.
//
//   node bench/profile.mjs [--tool doctor|flame|both] [--duration 10] [--connections 10]
//
// Then it prints doctor's verdict, and where the server's CPU samples went (the guard's share).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { checkBuilt, ensureBenchDependencies } from './lib/deps.mjs';
import { summarizeDoctor, summarizeFlame } from './lib/flame.mjs';
import { ROOT } from './lib/pkg.mjs';

const { values } = parseArgs({
  options: {
    tool: { type: 'string', default: 'both' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
  },
});
const tools = values.tool === 'both' ? ['doctor', 'flame'] : [values.tool];
if (!tools.every((t) => t === 'doctor' || t === 'flame')) {
  console.error('profile: --tool must be doctor, flame or both');
  process.exit(1);
}
const log = (message) => process.stderr.write(`${message}\n`);
try {
  checkBuilt();
  ensureBenchDependencies(log);
} catch (error) {
  console.error(`profile: ${error.message}`);
  process.exit(1);
}

const SERVER = relative(ROOT, fileURLToPath(new URL('./http/server.mjs', import.meta.url)));
const LOAD = relative(ROOT, fileURLToPath(new URL('./http/load.mjs', import.meta.url)));
const DEST = join(ROOT, '.clinic');
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';

const reports = [];
for (const tool of tools) {
  const dir = mkdtempSync(join(tmpdir(), 'totp-handshake-profile-'));
  const key = join(dir, 'otp.key');
  const before = Date.now();
  log(`profile: clinic ${tool}, ${values.duration} s of load on the guarded server`);
  const result = spawnSync(
    npx,
    [
      '-y',
      'clinic@13',
      tool,
      '--open=false',
      '--dest',
      DEST,
      '--on-port',
      `node ${LOAD} --key ${key} --duration ${Number(values.duration)} --connections ${Number(values.connections)}`,
      '--',
      process.execPath,
      SERVER,
      '--modes',
      'guard',
      '--key',
      key,
    ],
    { cwd: ROOT, stdio: 'inherit', env: { ...process.env, NO_INSIGHT: '1' } },
  );
  rmSync(dir, { recursive: true, force: true });
  if (result.status !== 0) {
    console.error(`profile: clinic ${tool} failed (exit ${result.status ?? result.signal}${result.error ? `, ${result.error.message}` : ''})`);
    process.exit(1);
  }
  const html = readdirSync(DEST)
    .filter((f) => f.endsWith(`.clinic-${tool}.html`))
    .map((f) => join(DEST, f))
    .filter((f) => statSync(f).mtimeMs >= before - 1000)
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (html === undefined) {
    console.error(`profile: clinic ${tool} wrote no HTML report under .clinic/`);
    process.exit(1);
  }
  reports.push({ tool, html, data: html.replace(/\.html$/, '') });
}

for (const { tool, html, data } of reports) {
  console.log(`\n${tool} report: ${relative(ROOT, html)}`);
  try {
    console.log(tool === 'flame' ? summarizeFlame(data) : summarizeDoctor(html));
  } catch (error) {
    console.log(`(no summary of the ${tool} data: ${error.message})`);
  }
}
