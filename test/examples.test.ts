// The thin clients of examples/ against the live example API: the bash (curl + oathtool), Python
// (standard library) and PHP (hash_hmac) clients compute plain RFC 6238 codes from the shared key
// file, in either of its formats. In CI every interpreter must be present; elsewhere a missing one
// skips its suite and says so.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

import { KeyOwner, KeyReader, TotpKey } from 'totp-handshake';
import { otpFetch } from 'totp-handshake/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { inCi } from './helpers/engines.js';
import { expectNoSecrets, root, secretsOf, tempDir } from './helpers/handshake-fs.js';
import { type AdapterCase, adapters, type TestServer } from './helpers/http-fixtures.js';
import { type ApiProcess, available, startApi } from './helpers/processes.js';

const run = promisify(execFile);

const clients = [
  { name: 'bash', command: 'bash', script: 'examples/bash/client.sh', needs: ['bash', 'curl', 'oathtool'] },
  { name: 'Python', command: '/usr/bin/python3', script: 'examples/python/client.py', needs: ['/usr/bin/python3'] },
  { name: 'PHP', command: 'php', script: 'examples/php/client.php', needs: ['php'] },
].map((client) => ({ ...client, missing: client.needs.filter((tool) => !available(tool)) }));

let shared: ReturnType<typeof tempDir>;
let dir: string;
let api: ApiProcess;
let keyPath: string;
// A second API, in this process, whose owner writes its key as an otpauth URI with non-default parameters.
let uriApi: { owner: KeyOwner; server: TestServer; url: string };

beforeAll(async () => {
  shared = tempDir('otp-examples');
  ({ dir, file: keyPath } = shared);
  api = await startApi(keyPath, { OTP_SOCKET: 'api.sock' });
  const owner = await KeyOwner.start({ path: path.join(dir, 'uri.key'), format: 'uri', totp: { algorithm: 'SHA256', digits: 8, period: 60 } });
  const server = await (adapters.find(({ name }) => name === 'node:http') as AdapterCase).start({ owner });
  uriApi = { owner, server, url: `http://127.0.0.1:${server.port}/secure` };
});

afterAll(async () => {
  await api?.stop();
  await uriApi?.server.close();
  await uriApi?.owner.close();
  shared.cleanup();
});

/** Runs a client with the key file at `key`; resolves to its exit code and output. */
async function call(command: string, script: string, key: string, url = api.url, env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(command, [path.join(root, script), url], {
      env: { ...process.env, OTP_KEY_PATH: key, ...env },
      timeout: 20_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

function writeKey(name: string, content: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, content, { mode: 0o600 });
  return file;
}

describe.each(clients)('the $name client', ({ command, script, missing }) => {
  if (inCi) {
    it('has its tools (CI installs them)', () => expect(missing).toEqual([]));
  }

  describe.skipIf(missing.length > 0)(missing.length > 0 ? `skipped: ${missing.join(', ')} not installed` : 'against the API', () => {
    it('calls the guarded endpoint with the base32 key file the API wrote', async () => {
      const result = await call(command, script, keyPath);
      expect(result).toMatchObject({ code: 0, stdout: '{"success":true}\n' });
    });

    it('reads an otpauth URI key file (SHA256, 8 digits, 60 s steps)', async () => {
      expect(await call(command, script, uriApi.owner.path, uriApi.url)).toMatchObject({ code: 0, stdout: '{"success":true}\n' });
    });

    it('exits 1 when the API refuses its code, printing neither the secret nor a code', async () => {
      const wrong = TotpKey.random();
      const result = await call(command, script, writeKey(`wrong-${path.basename(script)}.key`, wrong.toBase32()));
      expect(result.code).toBe(1);
      expect(`${result.stdout}${result.stderr}`).toContain('{"error":"Invalid OTP"}');
      expectNoSecrets([result.stdout, result.stderr], secretsOf([wrong]));
    });

    it('calls the guarded endpoint over the Unix socket in the key\'s directory (API_SOCKET)', async () => {
      const socket = { API_SOCKET: api.socketPath as string };
      expect(await call(command, script, keyPath, 'http://localhost/secure', socket)).toMatchObject({ code: 0, stdout: '{"success":true}\n' });
      const wrong = await call(command, script, writeKey(`wrong-socket-${path.basename(script)}.key`, TotpKey.random().toBase32()), 'http://localhost/secure', socket);
      expect(wrong.code).toBe(1);
      expect(`${wrong.stdout}${wrong.stderr}`).toContain('{"error":"Invalid OTP"}');
      expect((await call(command, script, keyPath, 'http://localhost/secure', { API_SOCKET: path.join(dir, 'no.sock') })).code).toBe(2);
    });

    it('exits 2 without a key file, and when the API cannot be reached', async () => {
      expect((await call(command, script, path.join(dir, 'absent.key'))).code).toBe(2);
      expect((await call(command, script, keyPath, 'http://127.0.0.1:1/secure')).code).toBe(2);
    });
  });
});

describe('the example API', () => {
  it('serves on its Unix socket with the key file\'s permissions, which otpFetch reaches', async () => {
    const socketPath = api.socketPath as string;
    expect(path.dirname(socketPath)).toBe(dir);
    expect(statSync(socketPath).isSocket()).toBe(true);
    expect(statSync(socketPath).mode & 0o777).toBe(0o600);
    const reader = await KeyReader.open({ path: keyPath });
    try {
      const response = await otpFetch(reader, 'http://localhost/secure', { method: 'POST', body: '{}', socketPath });
      expect({ status: response.status, body: await response.text() }).toEqual({ status: 200, body: '{"success":true}' });
    } finally {
      reader.close();
    }
  });

  it('ends its process on SIGTERM, with a client connection still open, and removes its key and socket', async () => {
    const own = tempDir('otp-shutdown');
    const stopping = await startApi(own.file, { OTP_SOCKET: 'api.sock' });
    const socket = connect(stopping.port, '127.0.0.1');
    await once(socket, 'connect');
    const exited = once(stopping.child, 'exit').then(([code, signal]) => ({ code, signal }));
    stopping.child.kill('SIGTERM');
    // One SIGTERM only: a second one would meet the default action once the handler has run.
    const outcome = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running after 15 s'), 15_000))]);
    socket.destroy();
    if (outcome === 'still running after 15 s') stopping.child.kill('SIGKILL');
    expect(outcome).toEqual({ code: 0, signal: null });
    expect(readdirSync(own.dir)).toEqual([]);
    own.cleanup();
  });
});
