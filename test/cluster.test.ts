// The keyring in etcd, against a real three-member etcd cluster on loopback (Debian's etcd 3.4,
// unpacked by scripts/etcd/fetch.sh): owners follow it and verify locally, one rotates, a new key
// is published ahead of its activation, the mirror writes it at its activation, and a rotator
// that has been deposed cannot win the rotation's transaction. Without the binaries these tests
// are skipped, and say so; in CI they must be there.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

import { type AuditEvent, EtcdKeyMirror, EtcdKeyOwner, type EtcdKeyOwnerOptions, KeyReader, TotpKey } from 'totp-handshake';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { inCi } from './helpers/engines.js';
import { type Cluster, etcdBinary, gateway, readPrefix, startCluster, watchProxy } from './helpers/etcd.js';
import { cli, Events, expectNoSecrets, secretsOf, tempDir, waitFor } from './helpers/handshake-fs.js';
import { type AdapterCase, adapters } from './helpers/http-fixtures.js';

if (inCi) {
  it('has the etcd binaries (CI unpacks them)', () => expect(etcdBinary).toBeDefined());
}

const fileKey = (file: string): TotpKey => TotpKey.fromBase32(readFileSync(file, 'utf8').trim());

describe.skipIf(etcdBinary === undefined)(etcdBinary === undefined ? 'skipped: no etcd binary (bash scripts/etcd/fetch.sh)' : 'the keyring in etcd', () => {
  let cluster: Cluster;
  let shared: ReturnType<typeof tempDir>;
  const open: { close(): unknown }[] = [];

  beforeAll(async () => {
    cluster = (await startCluster()) as Cluster;
    shared = tempDir('otp-cluster');
  }, 60_000);

  afterAll(async () => {
    for (const thing of open.reverse()) await thing.close();
    await cluster?.close();
    shared?.cleanup();
  });

  async function owner(name: string, options: Partial<EtcdKeyOwnerOptions> = {}): Promise<{ owner: EtcdKeyOwner; events: Events }> {
    const events = new Events();
    const started = await EtcdKeyOwner.start({ endpoints: cluster.endpoints, name, onEvent: events.listener, ...options });
    open.push(started);
    return { owner: started, events };
  }

  it('publishes a new key ahead of its activation to every owner; the mirror writes it at its activation; the old one lasts grace', async () => {
    const settings = { activationDelay: 2000, grace: 1500, leaseTtl: 3000 };
    const owners = [await owner('basic', { ...settings, member: 'a' }), await owner('basic', { ...settings, member: 'b' }), await owner('basic', { ...settings, member: 'c' })];
    // The first owner created the keyring and was elected; exactly one rotates.
    expect(owners.map(({ owner: o }) => o.isRotator)).toEqual([true, false, false]);
    const keyFile = path.join(shared.dir, 'basic.key');
    const mirrorEvents = new Events();
    const mirror = await EtcdKeyMirror.start({ endpoints: cluster.endpoints, name: 'basic', path: keyFile, onEvent: mirrorEvents.listener });
    open.push(mirror);
    const first = fileKey(keyFile);
    expect(owners.map(({ owner: o }) => o.keyId)).toEqual([first.id, first.id, first.id]);
    expect(owners.every(({ owner: o }) => o.verify(first.generate()))).toBe(true);

    const [rotator, other] = owners as [(typeof owners)[0], (typeof owners)[0]];
    for (const { events } of owners) events.mark();
    mirrorEvents.mark();
    const before = Date.now();
    await rotator.owner.rotate('a test');
    const published = await rotator.events.next('rotate');
    const next = published.keyId as string;
    const activeAt = Date.parse(/active from (\S+)/.exec(published.message ?? '')?.[1] ?? '');
    expect(activeAt).toBeGreaterThanOrEqual(before + settings.activationDelay);
    // Every owner and the mirror hold it long before it is active; the file still holds the first key.
    await Promise.all([...owners.map(({ events }) => events.next('load', (e) => e.keyId === next)), mirrorEvents.next('load', (e) => e.keyId === next)]);
    const heldBy = Date.now();
    expect(heldBy).toBeLessThan(activeAt);
    expect(fileKey(keyFile).id).toBe(first.id);
    expect(owners.map(({ owner: o }) => o.keyId)).toEqual([first.id, first.id, first.id]);

    // At its activation the mirror writes it, not before.
    const written = await mirrorEvents.next('rotate', (e) => e.keyId === next);
    expect(Date.parse(written.at)).toBeGreaterThanOrEqual(activeAt);
    const second = fileKey(keyFile);
    expect(second.id).toBe(next);
    await waitFor(() => owners.every(({ owner: o }) => o.keyId === next), 'every owner to switch at the activation');
    // Thin clients read the mirror's file as written by a KeyOwner: a KeyReader follows it.
    const reader = await KeyReader.open({ path: keyFile });
    expect(reader.keyId).toBe(next);
    reader.close();

    // Codes of both keys pass every owner, the old one until grace after the activation.
    for (const { owner: o } of owners) {
      expect(o.verify(second.generate())).toBe(true);
      const inGrace = activeAt + settings.grace - 200;
      expect(o.check(first.generate(inGrace), { timeMs: inGrace })).toMatchObject({ ok: true, keyId: first.id, expiresAt: activeAt + settings.grace });
      const after = activeAt + settings.grace + 1;
      expect(o.check(first.generate(after), { timeMs: after })).toMatchObject({ ok: false, reason: 'invalid' });
    }
    // Only the rotator rotates.
    await expect(other.owner.rotate()).rejects.toMatchObject({ code: 'ERR_OTP_KEY_IO', message: expect.stringContaining('a is') });
    const all = [...owners.flatMap(({ events }) => events.all), ...mirrorEvents.all];
    expectNoSecrets(all, secretsOf([first, second]));
    expect(all.filter((e) => e.type === 'error')).toEqual([]);
  });

  it('runs as `totp-handshake mirror`, printing events as JSON lines, until SIGTERM', async () => {
    const { owner: rotator, events } = await owner('cli', { activationDelay: 500 });
    const file = path.join(shared.dir, 'cli.key');
    const child = spawn(process.execPath, [cli, 'mirror', '--etcd', cluster.endpoints.join(','), '--name', 'cli', '--key', file, '--mode', '0640'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
    try {
      await waitFor(() => lines.some((line) => JSON.parse(line).type === 'rotate'), 'the first write');
      const first = fileKey(file).id;
      expect(first).toBe(rotator.keyId);
      expect(statSync(file).mode & 0o777).toBe(0o640);
      events.mark();
      await rotator.rotate();
      const next = (await events.next('rotate')).keyId;
      await waitFor(() => lines.some((line) => JSON.parse(line).type === 'rotate' && JSON.parse(line).keyId === next), 'the mirror to write the next key');
      expect(fileKey(file).id).toBe(next);
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      expect((await exited)[0]).toBe(0);
      const printed = lines.map((line) => JSON.parse(line));
      expect(printed.filter((e) => e.type === 'rotate').map((e) => e.keyId)).toEqual([first, next]);
      expectNoSecrets(lines, secretsOf([fileKey(file)]));
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('serves every HTTP guard unchanged', async () => {
    const { owner: o } = await owner('guards');
    const key = await (async () => {
      const file = path.join(shared.dir, 'guards.key');
      const mirror = await EtcdKeyMirror.start({ endpoints: cluster.endpoints, name: 'guards', path: file });
      mirror.close();
      return fileKey(file);
    })();
    for (const adapter of adapters as AdapterCase[]) {
      const server = await adapter.start({ owner: o });
      try {
        const url = `http://127.0.0.1:${server.port}/secure`;
        const ok = await fetch(url, { headers: { 'x-otp': key.generate() } });
        const wrong = await fetch(url, { headers: { 'x-otp': key.generate(Date.now() + 600_000) } });
        expect([adapter.name, ok.status, wrong.status]).toEqual([adapter.name, 200, 401]);
      } finally {
        await server.close();
      }
    }
  });

  it('a deposed rotator cannot win the rotation transaction', async () => {
    // The first owner reaches etcd through a proxy that can hold back its watch: once frozen, it
    // misses its own deposition and still believes it rotates.
    const proxy = await watchProxy(new URL(cluster.endpoints[0] as string));
    open.push(proxy);
    const stale = await owner('deposed', { endpoints: [proxy.url], member: 'stale', checkEvery: 60_000, leaseTtl: 3000 });
    const next = await owner('deposed', { member: 'next', leaseTtl: 3000 });
    expect(stale.owner.isRotator).toBe(true);
    proxy.freezeWatches();
    const before = await readPrefix(cluster.endpoints[1] as string, 'deposed');
    // Depose it from outside: its lease revoked, its election key goes, the other owner is elected.
    await gateway(cluster.endpoints[1] as string, '/v3/lease/revoke', { ID: before.leader?.lease });
    await waitFor(() => next.owner.isRotator, 'the other owner to be elected');
    expect(stale.owner.isRotator).toBe(true);
    const elected = await readPrefix(cluster.endpoints[1] as string, 'deposed');

    await expect(stale.owner.rotate('from a deposed rotator')).rejects.toMatchObject({ code: 'ERR_OTP_KEY_IO', message: expect.stringContaining('refused the rotation') });
    const after = await readPrefix(cluster.endpoints[1] as string, 'deposed');
    expect(after.ring?.modRevision).toBe(before.ring?.modRevision);
    expect(after.leader?.value).toBe(elected.leader?.value);
    // Having lost, it catches up at once and stands down; the elected owner rotates.
    expect(stale.owner.isRotator).toBe(false);
    await next.owner.rotate('from the elected rotator');
    expect((await readPrefix(cluster.endpoints[1] as string, 'deposed')).ring?.modRevision).toBeGreaterThan(before.ring?.modRevision as number);
  });

  it('re-reads the whole keyring when the history its watch needs was compacted, missing no key', async () => {
    const rotator = await owner('compacted', { endpoints: cluster.endpoints.slice(1), member: 'rotator', activationDelay: 500, grace: 60_000 });
    // This one talks to the first member only; it is stopped while keys are published and the history compacted.
    const cut = await owner('compacted', { endpoints: cluster.endpoints.slice(0, 1), member: 'cut', checkEvery: 200, requestTimeout: 300 });
    const member = cluster.members[0] as Cluster['members'][0];
    cut.events.mark();
    member.stop();
    try {
      await cut.events.next('error', (e) => /no quorum/.test(e.message ?? ''));
      await rotator.owner.rotate('one');
      const one = (await rotator.events.next('rotate')).keyId;
      rotator.events.mark();
      await rotator.owner.rotate('two');
      const two = (await rotator.events.next('rotate')).keyId;
      await cluster.compact();
      expect(cut.events.since('load').map((e) => e.keyId)).not.toContain(one);
      member.cont();
      const relisted = await cut.events.next('load', (e) => /compacted/.test(e.message ?? ''));
      expect(relisted.message).toMatch(/re-read the keyring at revision \d+: the history from revision \d+ back was compacted/);
      // Every key in the ring is held, the one published and replaced during the outage included.
      const loaded = cut.events.since('load').map((e) => e.keyId);
      expect(loaded).toEqual(expect.arrayContaining([one, two]));
    } finally {
      member.cont();
      await cluster.healthy();
    }
  });

  it('keeps the keys it holds, and says so, when the keyring in etcd is not one it can read', async () => {
    const { owner: o, events } = await owner('tampered');
    const held = o.keyId;
    const file = path.join(shared.dir, 'tampered.key');
    const mirrorEvents = new Events();
    const mirror = await EtcdKeyMirror.start({ endpoints: cluster.endpoints, name: 'tampered', path: file, onEvent: mirrorEvents.listener });
    open.push(mirror);
    const key = fileKey(file);
    events.mark();
    const planted = `{"v":1,"grace":0,"by":"someone","keys":[{"uri":"otpauth://totp/x?secret=${TotpKey.random().toBase32()}","activeAt":"now"}]}`;
    await gateway(cluster.endpoints[0] as string, '/v3/kv/put', { key: Buffer.from('/totp-handshake/tampered/ring').toString('base64'), value: Buffer.from(planted).toString('base64') });
    const reported = await events.next('error');
    expect(reported).toMatchObject({ reason: 'malformed', keyId: held, message: expect.stringContaining('the keyring at /totp-handshake/tampered/ring is not one this package wrote: key 0 has no activation time') });
    expect(reported.message).not.toContain('otpauth');
    await mirrorEvents.next('error', (e) => e.reason === 'malformed');
    expect(o.keyId).toBe(held);
    expect(o.verify(key.generate())).toBe(true);
    expect(fileKey(file).id).toBe(held);
  });

  it('re-creates a deleted keyring from the keys it holds, so that nothing held stops working', async () => {
    const { owner: rotator, events } = await owner('deleted');
    const { owner: other } = await owner('deleted');
    const held = rotator.keyId;
    events.mark();
    await gateway(cluster.endpoints[0] as string, '/v3/kv/deleterange', { key: Buffer.from('/totp-handshake/deleted/ring').toString('base64') });
    expect(await events.next('error')).toMatchObject({ message: expect.stringContaining('was deleted from etcd') });
    await waitFor(async () => (await readPrefix(cluster.endpoints[0] as string, 'deleted')).ring !== undefined, 'the keyring to be re-created');
    const ring = JSON.parse((await readPrefix(cluster.endpoints[0] as string, 'deleted')).ring?.value ?? '{}');
    expect(ring.keys.map((k: { uri: string }) => TotpKey.fromUri(k.uri).id)).toEqual([held]);
    expect([rotator.keyId, other.keyId]).toEqual([held, held]);
  });

  it('fails clearly, after a bounded wait, when etcd cannot be reached at start', async () => {
    const started = Date.now();
    const unreachable = ['http://127.0.0.1:9'];
    await expect(EtcdKeyOwner.start({ endpoints: unreachable, name: 'none', wait: 1500 })).rejects.toMatchObject({
      code: 'ERR_OTP_KEY_IO',
      message: expect.stringMatching(/^no etcd endpoint \(http:\/\/127\.0\.0\.1:9\) answered a quorum read within 1500 ms; the last: etcd at http:\/\/127\.0\.0\.1:9 cannot be reached \(ECONNREFUSED\)$/),
    });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1500);
    expect(took).toBeLessThan(5000);
    const file = path.join(shared.dir, 'unreachable.key');
    await expect(EtcdKeyMirror.start({ endpoints: unreachable, name: 'none', path: file, wait: 500 })).rejects.toMatchObject({ code: 'ERR_OTP_KEY_IO' });
    // A keyring that never appears (no owner ever ran) is a clear error too.
    await expect(EtcdKeyMirror.start({ endpoints: cluster.endpoints, name: 'never', path: file, wait: 500 })).rejects.toMatchObject({
      code: 'ERR_OTP_KEY_IO',
      message: 'no keyring appeared under /totp-handshake/never/ring within 500 ms',
    });
  });

  it('never lets the mirror replace a file that is not a key file', async () => {
    await owner('foreign');
    const file = path.join(shared.dir, 'settings.env');
    writeFileSync(file, 'DATABASE_URL=postgres://localhost/app\n');
    await expect(EtcdKeyMirror.start({ endpoints: cluster.endpoints, name: 'foreign', path: file })).rejects.toMatchObject({ code: 'ERR_OTP_KEY_FOREIGN' });
    expect(readFileSync(file, 'utf8')).toBe('DATABASE_URL=postgres://localhost/app\n');
  });

  it('refuses bad options by name', async () => {
    const base = { endpoints: cluster.endpoints, name: 'options' };
    const cases: [object, RegExp][] = [
      [{ ...base, endpoints: [] }, /endpoints must be a non-empty array/],
      [{ ...base, endpoints: ['http://user:pw@127.0.0.1:2379'] }, /without credentials/],
      [{ ...base, endpoints: ['127.0.0.1:2379'] }, /http:\/\/ or https:\/\//],
      [{ ...base, name: 'a/b' }, /name must be 1 to 64/],
      [{ ...base, rotateEvery: 10 }, /rotateEvery is in milliseconds/],
      [{ ...base, rotateEvery: 60_000, activationDelay: 60_000 }, /activationDelay must be shorter than rotateEvery/],
      [{ ...base, leaseTtl: 2500 }, /leaseTtl must be whole seconds/],
      [{ ...base, grace: 5 }, /grace is in milliseconds/],
      [{ ...base, auth: { username: 'u' } }, /auth.password must be a string/],
      [{ ...base, tls: { cert: 'x' } }, /tls.cert and tls.key go together/],
      [{ ...base, rotateEvry: 1000 }, /did you mean rotateEvery/],
      [{ ...base, totp: { epoch: 30 } }, /epoch cannot be shared/],
    ];
    for (const [options, message] of cases) {
      await expect(EtcdKeyOwner.start(options as EtcdKeyOwnerOptions), JSON.stringify(options)).rejects.toMatchObject({ code: 'ERR_OTP_OPTIONS', message: expect.stringMatching(message) });
    }
  });

  it('after close() refuses every code with no-key and hands the election over at once', async () => {
    const first = await owner('closing', { leaseTtl: 10_000 });
    const second = await owner('closing', { leaseTtl: 10_000 });
    expect(first.owner.isRotator).toBe(true);
    const started = Date.now();
    await first.owner.close();
    expect(first.owner.check('123456')).toEqual({ ok: false, reason: 'no-key' });
    await waitFor(() => second.owner.isRotator, 'the second owner to be elected');
    // The lease was revoked, not left to expire.
    expect(Date.now() - started).toBeLessThan(5000);
    await expect(first.owner.rotate()).rejects.toMatchObject({ code: 'ERR_OTP_DESTROYED' });
  });

  it('rotates on schedule, from the current key\'s activation', async () => {
    const { owner: o, events } = await owner('scheduled', { rotateEvery: 2000, activationDelay: 500, totp: { period: 1 } });
    const keys = new Set<string>();
    const activations: number[] = [];
    for (let i = 0; i < 3; i++) {
      events.mark();
      const event: AuditEvent = await events.next('rotate');
      keys.add(event.keyId as string);
      activations.push(Date.parse(/active from (\S+)/.exec(event.message ?? '')?.[1] ?? ''));
    }
    expect(keys.size).toBe(3);
    expect(activations[1]! - activations[0]!).toBe(2000);
    expect(activations[2]! - activations[1]!).toBe(2000);
    expect(o.isRotator).toBe(true);
  });
});
