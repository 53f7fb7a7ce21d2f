// The demo's API process: a node:http server that lets in only requests with a valid X-OTP code,
// checked by a KeyOwner that created the shared key file. It serves on 127.0.0.1 and on a Unix
// socket beside the key, which only processes that may read the key can open. Run by
// `totp-handshake demo`.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { KeyOwner } from '../handshake/owner.js';
import { listenOnKeySocket } from '../handshake/socket.js';
import { otpCheck } from '../http/node.js';
import { notify, serve } from './ipc.js';

async function main(file: string): Promise<void> {
  const owner = await KeyOwner.start({ path: file, removeOnClose: true });
  const counts = { accepted: 0, refused: 0 };
  const checkOtp = otpCheck({
    owner,
    onEvent: (event) => {
      if (event.type === 'verify') counts[event.ok === true ? 'accepted' : 'refused']++;
    },
  });
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (!checkOtp(req, res)) return;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"hello":"trusted client"}');
  };
  const server = createServer(handle);
  const socketServer = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socketPath = await listenOnKeySocket(socketServer, owner);

  serve({
    counts: async () => ({ ...counts }),
    rotate: async () => {
      const from = owner.keyId;
      await owner.rotate('the demo asked for it');
      return { from, to: owner.keyId, graceSeconds: 2 * (owner.timing()?.period ?? 30) };
    },
  });
  const stop = (): void => {
    for (const listener of [server, socketServer]) {
      listener.close();
      listener.closeAllConnections();
    }
    void owner.close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.once('disconnect', stop);
  // Ready only once stopping works: a SIGTERM before its handler exists would kill the process outright.
  notify({ notice: 'ready', port: (server.address() as AddressInfo).port, socketPath, keyId: owner.keyId });
}

main(process.argv[2] ?? '').catch((error: unknown) => {
  process.stderr.write(`demo API: ${(error as Error)?.message ?? String(error)}\n`);
  process.exit(1);
});
