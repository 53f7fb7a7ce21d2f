// The keyring in etcd with etcd's auth on, on a real three-member cluster: the owners' role reads
// and writes the keyring's prefix, the mirror's role only reads it, and a client without a token
// reads nothing. Tokens are given a 2-second TTL here, so the owners' renewal of an expired token
// is exercised too. Skipped without the etcd binaries; in CI they must be there.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { EtcdKeyMirror, EtcdKeyOwner, TotpKey } from 'totp-handshake';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { inCi } from './helpers/engines.js';
import { b64, type Cluster, etcdBinary, gateway, readPrefix, startCluster } from './helpers/etcd.js';
import { Events, tempDir, waitFor } from './helpers/handshake-fs.js';

if (inCi) {
  it('has the etcd binaries (CI unpacks them)', () => expect(etcdBinary).toBeDefined());
}

const PREFIX = '/totp-handshake/secured/';
const OWNER = { username: 'totp-owner', password: 'owner-password' };
const MIRROR = { username: 'totp-mirror', password: 'mirror-password' };
// Reads every keyring, writes none.
const READER = { username: 'totp-reader', password: 'reader-password' };

describe.skipIf(etcdBinary === undefined)(etcdBinary === undefined ? 'skipped: no etcd binary (bash scripts/etcd/fetch.sh)' : 'with etcd auth on', () => {
  let cluster: Cluster;
  let shared: ReturnType<typeof tempDir>;
  let owner: EtcdKeyOwner;
  let mirror: EtcdKeyMirror;
  const ownerEvents = new Events();

  beforeAll(async () => {
    cluster = (await startCluster({ extraArgs: ['--auth-token-ttl', '2'] })) as Cluster;
    shared = tempDir('otp-cluster-auth');
    await cluster.enableAuth({
      rootPassword: 'root-password',
      users: [
        { name: OWNER.username, password: OWNER.password, permission: 'readwrite', prefix: PREFIX },
        { name: MIRROR.username, password: MIRROR.password, permission: 'read', prefix: PREFIX },
        { name: READER.username, password: READER.password, permission: 'read', prefix: '/totp-handshake/' },
      ],
    });
    owner = await EtcdKeyOwner.start({ endpoints: cluster.endpoints, name: 'secured', auth: OWNER, activationDelay: 500, onEvent: ownerEvents.listener });
    mirror = await EtcdKeyMirror.start({ endpoints: cluster.endpoints, name: 'secured', auth: MIRROR, path: path.join(shared.dir, 'otp.key') });
  }, 60_000);

  afterAll(async () => {
    mirror?.close();
    await owner?.close();
    await cluster?.close();
    shared?.cleanup();
  });

  async function token(user: { username: string; password: string }): Promise<string> {
    const answer = await gateway(cluster.endpoints[0] as string, '/v3/auth/authenticate', { name: user.username, password: user.password });
    return answer.token;
  }

  it('serves the owners and the mirror with their own users', () => {
    const key = TotpKey.fromBase32(readFileSync(path.join(shared.dir, 'otp.key'), 'utf8').trim());
    expect(owner.verify(key.generate())).toBe(true);
    expect(mirror.keyId).toBe(owner.keyId);
  });

  it('lets a client without a token read nothing of the keyring', async () => {
    const anonymous = await readPrefix(cluster.endpoints[0] as string, 'secured');
    expect(anonymous.ring).toBeUndefined();
    expect(anonymous.error).toMatch(/user name is empty|invalid auth token|permission denied/);
    const watch = await fetch(`${cluster.endpoints[0]}/v3/watch`, {
      method: 'POST',
      body: JSON.stringify({ create_request: { key: b64(PREFIX), range_end: b64(`${PREFIX.slice(0, -1)}0`), start_revision: '1' } }),
      signal: AbortSignal.timeout(3000),
    }).then((response) => response.text()).catch((error: Error) => `ended: ${error.name}`);
    expect(watch).not.toContain('"kv"');
    // The owners' user reads it.
    expect((await readPrefix(cluster.endpoints[0] as string, 'secured', await token(OWNER))).ring).toBeDefined();
  });

  it('does not let the mirror\'s user write the keyring', async () => {
    const mirrorToken = await token(MIRROR);
    expect((await readPrefix(cluster.endpoints[0] as string, 'secured', mirrorToken)).ring).toBeDefined();
    const before = await readPrefix(cluster.endpoints[0] as string, 'secured', mirrorToken);
    const put = await gateway(cluster.endpoints[0] as string, '/v3/kv/put', { key: b64(`${PREFIX}ring`), value: b64('{"v":1}') }, { token: mirrorToken });
    expect(put.message).toMatch(/permission denied/);
    const erase = await gateway(cluster.endpoints[0] as string, '/v3/kv/deleterange', { key: b64(`${PREFIX}ring`) }, { token: mirrorToken });
    expect(erase.message).toMatch(/permission denied/);
    const campaign = await gateway(
      cluster.endpoints[0] as string,
      '/v3/kv/txn',
      { compare: [], success: [{ request_put: { key: b64(`${PREFIX}leader`), value: b64('{}') } }] },
      { token: mirrorToken },
    );
    expect(campaign.message).toMatch(/permission denied/);
    expect((await readPrefix(cluster.endpoints[0] as string, 'secured', mirrorToken)).ring?.modRevision).toBe(before.ring?.modRevision);
  });

  it('does not let an owner with a read-only user stand for election, and says so at start', async () => {
    // A keyring no owner has created yet: the first owner must campaign, and cannot.
    const started = Date.now();
    await expect(EtcdKeyOwner.start({ endpoints: cluster.endpoints, name: 'unowned', auth: READER, wait: 5000 })).rejects.toMatchObject({
      code: 'ERR_OTP_KEY_IO',
      message: expect.stringContaining('permission denied'),
    });
    expect(Date.now() - started).toBeLessThan(2000);
    expect((await readPrefix(cluster.endpoints[0] as string, 'unowned', await token(OWNER))).leader).toBeUndefined();
  });

  it('refuses a wrong password clearly, at once', async () => {
    const started = Date.now();
    await expect(EtcdKeyOwner.start({ endpoints: cluster.endpoints, name: 'secured', auth: { ...OWNER, password: 'wrong' }, wait: 5000 })).rejects.toMatchObject({
      code: 'ERR_OTP_KEY_IO',
      message: expect.stringContaining('authentication failed'),
    });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('renews an expired token and goes on following the keyring', async () => {
    // Tokens live 2 s here: wait past that, then rotate; the owner's requests renew its token.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    ownerEvents.mark();
    await owner.rotate('after the token expired');
    const published = await ownerEvents.next('rotate');
    await waitFor(() => owner.keyId === published.keyId && mirror.keyId === published.keyId, 'the owner and the mirror to switch');
    expect(ownerEvents.since('error')).toEqual([]);
  });
});
