// `totp-handshake demo`: an API process and a thin-client process share a key through a file in
// a fresh temp directory, and the parent tells, step by step, what happens between them. Only key
// ids (fingerprints) are shown, never a secret or a valid code.
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { Peer } from './ipc.js';

const KEY_FILE = 'otp.key';
const TIMEOUT_MS = 20_000;
// Traffic continues this long after the client has switched keys, so the count covers both sides.
const TRAFFIC_AFTER_SWITCH_MS = 300;
const STOP_GRACE_MS = 3_000;

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

async function scenario(dir: string, start: (script: string, args: string[], name: string) => Peer): Promise<boolean> {
  const file = path.join(dir, KEY_FILE);
  say('totp-handshake demo: two processes trust each other through a shared key file.');
  say('  The API creates a random key and writes it to a file; the thin client reads the file and');
  say('  sends the current 6-digit code (TOTP, RFC 6238) in an X-OTP header with every request.');
  say(`  Shared directory: ${dir} (removed at the end)`);
  say();

  const api = start('api.js', [file], 'API');
  const ready = await api.notice('ready');
  const url = `http://127.0.0.1:${ready.port}/hello`;
  say(`[api]     wrote a new random key (id ${ready.keyId}) to ${KEY_FILE}, readable by its user only (mode 0600)`);
  say(`[api]     listening on ${url} and on ${path.basename(ready.socketPath as string)} beside the key, which only`);
  say('          processes that may read the key can open; only requests with a valid code get in');

  const client = start('client.js', [file, url, ready.socketPath as string], 'client');
  const hello = await client.notice('ready');
  say(`[client]  read key ${hello.keyId} from ${KEY_FILE}; calls the API over its socket`);
  const { statuses } = (await client.request('send')) as { statuses: number[] };
  const accepted = statuses.every((status) => status === 200);
  say(`[client]  3 requests with the current code: ${statuses.join(', ')} (${accepted ? 'accepted' : 'NOT all accepted'})`);

  client.forget('load');
  const before = await api.request('counts');
  await client.request('start');
  const rotation = await api.request('rotate');
  say(`[api]     rotated the key: ${rotation.from} -> ${rotation.to}; ${rotation.from} stays valid for ${rotation.graceSeconds} s`);
  const switched = await client.notice('load');
  say(`[client]  noticed the new key file and switched to key ${switched.keyId}`);
  await sleep(TRAFFIC_AFTER_SWITCH_MS);
  const { sent } = await client.request('stop');
  const after = await api.request('counts');
  const refused = (after.refused as number) - (before.refused as number);
  say(`[api]     ${sent} requests came in while the key changed: ${(after.accepted as number) - (before.accepted as number)} accepted, ${refused} refused`);

  const wrong = await client.request('wrong');
  say(`[client]  a request over TCP with a wrong code: ${wrong.status} ${wrong.body} (${wrong.status === 401 ? 'refused' : 'NOT refused'})`);
  say();

  const ok = accepted && switched.keyId === rotation.to && refused === 0 && wrong.status === 401;
  if (ok) {
    say('Done: requests with the shared key\'s code get in, a rotation interrupts none of them, and a');
    say('wrong code gets 401. In production the API runs KeyOwner + a guard, the client KeyReader.');
  } else {
    say('The handshake did not behave as described above.');
  }
  return ok;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** Runs the demo; true when everything behaved as described. Cleans up on every path, SIGINT too. */
export async function runDemo(): Promise<boolean> {
  const dir = mkdtempSync(path.join(tmpdir(), 'totp-handshake-demo-'));
  const children: ChildProcess[] = [];
  const start = (script: string, args: string[], name: string): Peer => {
    const child = fork(path.join(__dirname, script), args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    children.push(child);
    return new Peer(child, name);
  };
  const cleanup = async (): Promise<void> => {
    await Promise.all(children.map(stop));
    rmSync(dir, { recursive: true, force: true });
  };
  const interrupted = (): void => {
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`it did not finish within ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS);
  });
  try {
    return await Promise.race([scenario(dir, start), timeout]);
  } catch (error) {
    say(`The demo failed: ${(error as Error)?.message ?? String(error)}`);
    return false;
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', interrupted);
    await cleanup();
  }
}
