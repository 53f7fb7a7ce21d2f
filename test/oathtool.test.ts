// Interop with the reference thin client: OATH Toolkit's oathtool reading the key file as
// `oathtool --totp -b "$(cat KEYFILE)"`. In CI a missing oathtool fails the suite; elsewhere these
// tests are skipped with the reason.
//
// Checked with oathtool 2.6.7 (Debian 12): it accepts unpadded base32 of every length (16 to 64
// bytes here, e.g. 26 symbols for 16 bytes) and refuses wrong padding, so key files hold the
// secret without '=' padding.
import { execFileSync, spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { KeyOwner, KeyReader, TotpKey } from 'totp-handshake';
import { writeKeyFile } from '../dist/handshake/keyfile.js';
import { inCi } from './helpers/engines.js';
import { tempDir } from './helpers/handshake-fs.js';

const oathtool = spawnSync('oathtool', ['--version'], { encoding: 'utf8' });
const available = oathtool.status === 0;

if (!available && inCi) {
  it('oathtool is installed (CI runs .ci/run, which installs it)', () => {
    expect.fail('oathtool is not installed: in CI a missing interop peer is a failure, not a skip');
  });
}

/** What a shell thin client runs; `at` (Unix seconds) pins the time. */
function oathtoolCode(file: string, at?: number): string {
  const now = at === undefined ? '' : ` --now=@${at}`;
  return execFileSync('bash', ['-c', `oathtool --totp -b "$(cat "$1")"${now}`, 'client', file], { encoding: 'utf8' }).trim();
}

describe.skipIf(!available)(`oathtool (${oathtool.stdout?.split('\n')[0] ?? 'not installed'})`, () => {
  let file: string;
  let cleanup: () => void;
  beforeEach(() => ({ file, cleanup } = tempDir('otp-oathtool')));
  afterEach(() => cleanup());

  it('its code from the key file is accepted by the KeyOwner that wrote it', async () => {
    const owner = await KeyOwner.start({ path: file });
    try {
      for (let i = 0; i < 3; i++) {
        expect(owner.check(oathtoolCode(file))).toMatchObject({ ok: true, keyId: owner.keyId });
        await owner.rotate();
      }
    } finally {
      await owner.close();
    }
  });

  it.each([16, 17, 18, 19, 20, 21, 24, 25, 32, 64])('KeyReader makes the same code as oathtool, for a %i-byte secret', async (bytes) => {
    const owner = await KeyOwner.start({ path: file });
    try {
      // A secret of `bytes` bytes, written the way the owner writes every key; the owner follows.
      const key = TotpKey.random({ bytes });
      await writeKeyFile(file, key, { format: 'base32', mode: 0o600 });
      const reader = await KeyReader.open({ path: file, watch: false });
      for (const at of [59, 1_111_111_109, 1_234_567_890, 2_000_000_000, Math.floor(Date.now() / 1000)]) {
        expect(reader.code(at * 1000)).toBe(oathtoolCode(file, at));
      }
      expect(owner.check(oathtoolCode(file))).toMatchObject({ ok: true, keyId: key.id });
      reader.close();
      key.destroy();
    } finally {
      await owner.close();
    }
  });
});
