// The demo's thin-client process: reads the shared key with a KeyReader and calls the API with
// otpFetch, which adds the X-OTP header, over the API's socket in the key directory; its wrong
// code goes over TCP. Run by `totp-handshake demo`.
import { otpFetch } from '../client/index.js';
import { KeyReader } from '../handshake/reader.js';
import { notify, serve } from './ipc.js';

/** A code the current key does not produce in the window the API accepts. */
function wrongCode(reader: KeyReader): string {
  const now = Date.now();
  const valid = new Set([-30_000, 0, 30_000].map((offset) => reader.code(now + offset)));
  for (let n = Number(reader.code(now)) + 500_000; ; n++) {
    const code = String(n % 1_000_000).padStart(6, '0');
    if (!valid.has(code)) return code;
  }
}

async function main(file: string, url: string, socketPath: string): Promise<void> {
  const reader = await KeyReader.open({
    path: file,
    onEvent: (event) => {
      if (event.type === 'load') notify({ notice: 'load', keyId: event.keyId });
    },
  });
  let traffic: Promise<number> | undefined;
  let running = false;
  const send = async (): Promise<number> => {
    const response = await otpFetch(reader, 'http://localhost/hello', { socketPath });
    await response.body?.cancel();
    return response.status;
  };

  serve({
    send: async () => ({ statuses: [await send(), await send(), await send()] }),
    start: async () => {
      running = true;
      traffic = (async () => {
        let sent = 0;
        while (running) {
          await send();
          sent++;
        }
        return sent;
      })();
      return {};
    },
    stop: async () => {
      running = false;
      return { sent: await traffic };
    },
    wrong: async () => {
      const response = await fetch(url, { headers: { 'X-OTP': wrongCode(reader) } });
      return { status: response.status, body: await response.text() };
    },
  });
  const stop = (): void => {
    reader.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.once('disconnect', stop);
  // Ready only once stopping works: a SIGTERM before its handler exists would kill the process outright.
  notify({ notice: 'ready', keyId: reader.keyId });
}

main(process.argv[2] ?? '', process.argv[3] ?? '', process.argv[4] ?? '').catch((error: unknown) => {
  process.stderr.write(`demo client: ${(error as Error)?.message ?? String(error)}\n`);
  process.exit(1);
});
