// The keyring in etcd over TLS with client certificates (etcd's --client-cert-auth), on a real
// one-member cluster with certificates made here by openssl: the `tls` option reaches etcd with
// the right CA and certificate, and nothing reaches it without them. Skipped without the etcd
// binaries or openssl; in CI both must be there.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { EtcdKeyMirror, EtcdKeyOwner, TotpKey } from 'totp-handshake';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { inCi } from './helpers/engines.js';
import { type Cluster, etcdBinary, startCluster } from './helpers/etcd.js';
import { tempDir } from './helpers/handshake-fs.js';
import { available } from './helpers/processes.js';

const openssl = available('openssl');
const missing = [etcdBinary === undefined ? 'etcd' : '', openssl ? '' : 'openssl'].filter(Boolean);

if (inCi) {
  it('has the etcd binaries and openssl (CI installs them)', () => expect(missing).toEqual([]));
}

/** A CA and, signed by it, `names`' certificates (EC P-256, valid one day): `<name>.pem`, `<name>.key`. */
function certificates(dir: string, names: { name: string; usage: string }[], ca = 'ca'): void {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run('req', '-x509', ...key, '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '1', '-subj', `/CN=${ca}`);
  for (const { name, usage } of names) {
    run('req', ...key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=IP:127.0.0.1\nextendedKeyUsage=${usage}\n`);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`);
  }
}

describe.skipIf(missing.length > 0)(missing.length > 0 ? `skipped: ${missing.join(', ')} not installed` : 'over TLS with client certificates', () => {
  let cluster: Cluster;
  let shared: ReturnType<typeof tempDir>;
  const file = (name: string) => readFileSync(path.join(shared.dir, name));

  beforeAll(async () => {
    shared = tempDir('otp-cluster-tls');
    certificates(shared.dir, [
      // etcd's own JSON gateway connects to its gRPC server with the serving certificate.
      { name: 'etcd', usage: 'serverAuth,clientAuth' },
      { name: 'client', usage: 'clientAuth' },
    ]);
    certificates(shared.dir, [], 'other-ca');
    const at = (name: string) => path.join(shared.dir, name);
    cluster = (await startCluster({ size: 1, tls: { ca: at('ca.pem'), cert: at('etcd.pem'), key: at('etcd.key'), clientCert: at('client.pem'), clientKey: at('client.key') } })) as Cluster;
  }, 60_000);

  afterAll(async () => {
    await cluster?.close();
    shared?.cleanup();
  });

  it('serves an owner and a mirror given the CA and a client certificate', async () => {
    expect(cluster.endpoints[0]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const tls = { ca: file('ca.pem'), cert: file('client.pem'), key: file('client.key') };
    const owner = await EtcdKeyOwner.start({ endpoints: cluster.endpoints, name: 'tls', tls });
    const keyFile = path.join(shared.dir, 'otp.key');
    const mirror = await EtcdKeyMirror.start({ endpoints: cluster.endpoints, name: 'tls', tls, path: keyFile });
    try {
      expect(owner.verify(TotpKey.fromBase32(readFileSync(keyFile, 'utf8').trim()).generate())).toBe(true);
    } finally {
      mirror.close();
      await owner.close();
    }
  });

  it('reaches nothing without a client certificate, or trusting another CA', async () => {
    const name = 'tls';
    await expect(EtcdKeyOwner.start({ endpoints: cluster.endpoints, name, tls: { ca: file('ca.pem') }, wait: 500 })).rejects.toMatchObject({ code: 'ERR_OTP_KEY_IO' });
    await expect(EtcdKeyOwner.start({ endpoints: cluster.endpoints, name, tls: { ca: file('other-ca.pem'), cert: file('client.pem'), key: file('client.key') }, wait: 500 })).rejects.toMatchObject({
      code: 'ERR_OTP_KEY_IO',
      message: expect.stringMatching(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|unable to verify/i),
    });
    // Plain HTTP to a TLS endpoint is refused too.
    await expect(EtcdKeyOwner.start({ endpoints: [(cluster.endpoints[0] as string).replace('https:', 'http:')], name, wait: 500 })).rejects.toMatchObject({ code: 'ERR_OTP_KEY_IO' });
  });
});
