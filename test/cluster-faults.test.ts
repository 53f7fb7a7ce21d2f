// Failures of the keyring in etcd, on a real three-member etcd cluster on loopback: the etcd leader
// killed, a member stopped and resumed, the rotating owner killed, a minority partition. Each
// behaviour is the one SECURITY.md states. Without the etcd binaries these tests are skipped; in
// CI they must be there.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { EtcdKeyMirror, EtcdKeyOwner, type EtcdKeyOwnerOptions, TotpKey } from 'totp-handshake';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { inCi } from './helpers/engines.js';
import { type Cluster, etcdBinary, gateway, type Member, ownerProcess, type OwnerProcess, startCluster } from './helpers/etcd.js';
import { Events, tempDir, waitFor } from './helpers/handshake-fs.js';

if (inCi) {
  it('has the etcd binaries (CI unpacks them)', () => expect(etcdBinary).toBeDefined());
}

// Short timings, so that each failure plays out in seconds: a quorum read every 300 ms, each
// request given 500 ms before the next endpoint is tried.
const FAST = { checkEvery: 300, requestTimeout: 500, leaseTtl: 3000, activationDelay: 1000, grace: 5000 };

describe.skipIf(etcdBinary === undefined)(etcdBinary === undefined ? 'skipped: no etcd binary (bash scripts/etcd/fetch.sh)' : 'failures', () => {
  let cluster: Cluster;
  let shared: ReturnType<typeof tempDir>;
  const open: { close(): unknown }[] = [];

  beforeAll(async () => {
    cluster = (await startCluster()) as Cluster;
    shared = tempDir('otp-cluster-faults');
  }, 60_000);

  afterAll(async () => {
    for (const thing of open.reverse()) await thing.close();
    await cluster?.close();
    shared?.cleanup();
  });

  async function owners(name: string, count: number, options: Partial<EtcdKeyOwnerOptions> = {}): Promise<{ owner: EtcdKeyOwner; events: Events }[]> {
    const started = [];
    for (let i = 0; i < count; i++) {
      const events = new Events();
      // Each owner's first endpoint is a different member, so that every member has clients.
      const endpoints = [...cluster.endpoints.slice(i % 3), ...cluster.endpoints.slice(0, i % 3)];
      const owner = await EtcdKeyOwner.start({ endpoints, name, member: `${name}-${i}`, onEvent: events.listener, ...FAST, ...options });
      open.push(owner);
      started.push({ owner, events });
    }
    return started;
  }

  /** Rotates on whichever owner is the rotator, retrying while etcd elects a leader; resolves to the new key's id. */
  async function rotateSomewhere(group: { owner: EtcdKeyOwner; events: Events }[], timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rotator = group.find(({ owner }) => owner.isRotator);
      if (rotator !== undefined) {
        rotator.events.mark();
        try {
          await rotator.owner.rotate('a test');
          return (await rotator.events.next('rotate')).keyId as string;
        } catch (error) {
          if (Date.now() > deadline) throw error;
        }
      }
      if (Date.now() > deadline) throw new Error('no rotator could rotate');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Waits until every owner of `group` holds `keyId`; resolves to how long that took (ms). */
  async function everyOwnerHolds(group: { owner: EtcdKeyOwner; events: Events }[], keyId: string, timeoutMs = 10_000): Promise<number> {
    const started = Date.now();
    await Promise.all(group.map(({ events }) => Promise.race([events.next('load', (e) => e.keyId === keyId), new Promise((_, reject) => setTimeout(() => reject(new Error(`an owner did not receive ${keyId} within ${timeoutMs} ms`)), timeoutMs))])));
    return Date.now() - started;
  }

  it('the etcd leader killed: owners verify throughout, the cluster elects another, rotation goes on; the member rejoins', async () => {
    const group = await owners('leader-killed', 3);
    const key = group[0]?.owner.keyId;
    for (const { events } of group) events.mark();
    const leader = await cluster.leader();
    await leader.kill();
    try {
      // Verification is local: nothing on the request path waits for etcd.
      expect(group.every(({ owner }) => owner.keyId === key)).toBe(true);
      const next = await rotateSomewhere(group);
      const took = await everyOwnerHolds(group, next);
      expect(took).toBeLessThan(5000);
    } finally {
      leader.start('existing');
      await cluster.healthy();
    }
    const after = await rotateSomewhere(group);
    await everyOwnerHolds(group, after);
  }, 60_000);

  it('a member stopped and resumed: its clients move to another member and miss nothing', async () => {
    const group = await owners('member-stopped', 3);
    const stopped = await cluster.leader();
    for (const { events } of group) events.mark();
    stopped.stop();
    let duringStop: string;
    try {
      duringStop = await rotateSomewhere(group);
      // The owner whose first endpoint was the stopped member finds another within a few quorum reads.
      await everyOwnerHolds(group, duringStop);
    } finally {
      stopped.cont();
      await cluster.healthy();
    }
    const afterResume = await rotateSomewhere(group);
    await everyOwnerHolds(group, afterResume);
    expect(group.every(({ owner }) => owner.keyId !== undefined)).toBe(true);
  }, 60_000);

  it('the rotating owner killed: another takes over within one lease TTL, and rotation goes on', async () => {
    const options = { endpoints: cluster.endpoints, name: 'owner-killed', ...FAST, rotateEvery: 3000, activationDelay: 1000, totp: { period: 1 } };
    const processes: OwnerProcess[] = [];
    for (let i = 0; i < 3; i++) processes.push(await ownerProcess({ ...options, member: `p${i}` }));
    open.push({ close: () => Promise.all(processes.map((p) => p.kill())) });
    const statuses = async () => Promise.all(processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null).map((p) => p.status()));
    expect((await statuses()).filter((s) => s.isRotator)).toHaveLength(1);
    const rotator = processes[(await Promise.all(processes.map((p) => p.status()))).findIndex((s) => s.isRotator)] as OwnerProcess;
    const killedAt = Date.now();
    await rotator.kill();
    let takenOverAt = 0;
    await waitFor(async () => {
      const now = await statuses();
      // Never two rotators at once.
      expect(now.filter((s) => s.isRotator).length).toBeLessThanOrEqual(1);
      if (now.some((s) => s.isRotator)) takenOverAt = Date.now();
      return takenOverAt !== 0;
    }, 'another owner to take over', 10_000);
    const took = takenOverAt - killedAt;
    // The lease expires at most one TTL after the killed owner's last renewal, which preceded the
    // kill; etcd checks for expired leases every 500 ms, and the survivors' status is polled.
    expect(took).toBeLessThanOrEqual(options.leaseTtl + 700);
    await waitFor(() => processes.some((p) => p !== rotator && p.events.some((e) => e.type === 'rotate' && Date.parse(e.at) >= takenOverAt)), 'a rotation by the new rotator', 10_000);
    console.log(`cluster-faults: the rotating owner killed: another took over ${took} ms later (lease TTL ${options.leaseTtl} ms)`);
  }, 60_000);

  it('a minority partition: its owners keep verifying with the last keyring and raise the alarm; no rotation happens there', async () => {
    const [minority, ...majority] = cluster.members as [Member, Member, Member];
    // Owners and a mirror that reach etcd only through the member that will be cut off.
    const side = { endpoints: [minority.url], ...FAST, rotateEvery: 2000, activationDelay: 500, totp: { period: 1 } };
    const [rotator] = await owners('partition', 1, side);
    const [follower] = await owners('partition', 1, side);
    const file = path.join(shared.dir, 'partition.key');
    const mirrorEvents = new Events();
    const mirror = await EtcdKeyMirror.start({ endpoints: [minority.url], name: 'partition', path: file, checkEvery: 300, requestTimeout: 500, onEvent: mirrorEvents.listener });
    open.push(mirror);
    const inStep = [rotator, follower] as { owner: EtcdKeyOwner; events: Events }[];
    expect(rotator?.owner.isRotator).toBe(true);
    const ringRevision = async () => {
      const answer = await gateway(minority.url, '/v3/kv/range', { key: Buffer.from('/totp-handshake/partition/ring').toString('base64'), serializable: true }, { timeout: 1000 });
      return Number(answer.kvs?.[0]?.mod_revision ?? 0);
    };
    for (const { events } of inStep) events.mark();
    mirrorEvents.mark();
    for (const member of majority) member.stop();
    try {
      // The alarm: an `error` event saying so, from every owner and the mirror there.
      await Promise.all([...inStep.map(({ events }) => events.next('error', (e) => /no quorum/.test(e.message ?? ''))), mirrorEvents.next('error', (e) => /no quorum/.test(e.message ?? ''))]);
      const frozenAt = await ringRevision();
      // Keep it cut off for three rotation intervals.
      await new Promise((resolve) => setTimeout(resolve, 6000));
      expect(await ringRevision()).toBe(frozenAt);
      // Verification goes on with the last keyring: the key in the mirror's file passes every owner.
      const key = TotpKey.fromUri(readFileSync(file, 'utf8').trim());
      expect(inStep.every(({ owner }) => owner.verify(key.generate()))).toBe(true);
      await expect(rotator?.owner.rotate('during the partition')).rejects.toMatchObject({ code: 'ERR_OTP_KEY_IO' });
      expect(await ringRevision()).toBe(frozenAt);
      const alarm = inStep[0]?.events.since('error').find((e) => /no quorum/.test(e.message ?? ''));
      expect(alarm?.message).toMatch(/keeps verifying with the keyring of revision \d+ \(keys held: \d+\), and no rotation happens from here until etcd answers/);
    } finally {
      for (const member of majority) member.cont();
      await cluster.healthy();
    }
    // Healed: the alarm clears, and rotation resumes.
    await Promise.all(inStep.map(({ events }) => events.next('load', (e) => /answers quorum reads again/.test(e.message ?? ''))));
    for (const { events } of inStep) events.mark();
    await waitFor(() => inStep.some(({ events }) => events.since('rotate').length > 0), 'a rotation after the partition healed', 15_000);
  }, 90_000);
});
