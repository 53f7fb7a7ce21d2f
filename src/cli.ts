#!/usr/bin/env node
// The `totp-handshake` command (SPEC §5). Exit codes: 0 ok (verify: valid), 1 invalid code
// (verify), 2 error. A mistake is one line on stderr, never a stack trace; no output ever holds a
// secret, and a code is printed only by `code`, whose job it is.
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import { parseArgs } from 'node:util';

import { runDemo } from './demo/run.js';
import { isOtpError, OtpError } from './errors.js';
import { DEFAULT_FILE_MODE, type KeyFileFormat, type LoadedKey, readKeyFile, writeNewKey } from './handshake/keyfile.js';
import { withLock } from './handshake/lock.js';
import { EtcdKeyMirror } from './cluster/mirror.js';
import { effectiveUid } from './internal/fs.js';
import { parseCode } from './internal/code.js';
import { type Algorithm, MAX_WINDOW, resolveTotpOptions, type TotpOptions } from './options.js';

const NAME = 'totp-handshake';
const EXIT_OK = 0;
const EXIT_INVALID = 1;
const EXIT_ERROR = 2;

/** A mistake in how the command was called: reported with a pointer to the help. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

type Values = {
  key?: string;
  format?: string;
  window?: string;
  digits?: string;
  algorithm?: string;
  period?: string;
  etcd?: string[];
  name?: string;
  user?: string;
  'password-file'?: string;
  cacert?: string;
  cert?: string;
  'cert-key'?: string;
  mode?: string;
  help?: boolean;
};
type OptionName = Exclude<keyof Values, 'help'>;
interface Command {
  usage: string;
  options: OptionName[];
  positionals: string[];
  run(values: Values, positionals: string[]): Promise<number>;
}

const OPTIONS = {
  key: { type: 'string', short: 'k' },
  format: { type: 'string' },
  window: { type: 'string', short: 'w' },
  digits: { type: 'string' },
  algorithm: { type: 'string' },
  period: { type: 'string' },
  etcd: { type: 'string', multiple: true },
  name: { type: 'string' },
  user: { type: 'string' },
  'password-file': { type: 'string' },
  cacert: { type: 'string' },
  cert: { type: 'string' },
  'cert-key': { type: 'string' },
  mode: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const USAGE = `Usage: ${NAME} <command> [options]

Two services on one host trust each other through a TOTP key in a shared file.

Commands:
  rotate --key PATH [--format base32|uri] [--digits N --algorithm A --period S]
                                            write a fresh key to PATH (atomically, under the owners' lock)
  code --key PATH                           print the current code for the key in PATH
  verify - --key PATH [--window N]          check a code read from standard input; exit 0 if valid, 1 if not
  verify CODE --key PATH [--window N]       the same with the code as an argument (visible to \`ps\`)
  mirror --etcd URL --name NAME --key PATH  keep PATH in step with the keyring NAME in etcd (runs until stopped)
  demo                                      run an API and a thin client and show the handshake

Run '${NAME} <command> --help' for more. Exit codes: 0 ok, 1 invalid code (verify), 2 error.`;

function keyOption(values: Values, command: string): string {
  if (values.key === undefined || values.key === '') throw new UsageError('--key PATH is required', command);
  return path.resolve(values.key);
}

function formatOption(value: string | undefined, command = 'rotate'): KeyFileFormat | undefined {
  if (value === undefined || value === 'base32' || value === 'uri') return value;
  throw new UsageError("--format must be 'base32' or 'uri'", command);
}

/** The parameters given as --digits, --algorithm, --period, checked as the core checks them. */
function parametersOption({ digits, algorithm, period }: Values): TotpOptions {
  const given: TotpOptions = {};
  if (digits !== undefined) given.digits = Number(digits) as 6 | 7 | 8;
  if (algorithm !== undefined) given.algorithm = algorithm.toUpperCase() as Algorithm;
  if (period !== undefined) given.period = /^[0-9]{1,10}$/.test(period) ? Number(period) : Number.NaN;
  try {
    resolveTotpOptions(given);
  } catch (error) {
    throw new UsageError(`--${(error as Error).message}`, 'rotate');
  }
  return given;
}

function windowOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,2}$/.test(value) || Number(value) > MAX_WINDOW) {
    throw new UsageError(`--window must be a whole number from 0 to ${MAX_WINDOW}`, 'verify');
  }
  return Number(value);
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

function complain(line: string): void {
  process.stderr.write(`${NAME}: ${line}\n`);
}

/** The user and group a new key file must belong to, so that the owners keep trusting it. */
async function keyFileOwner(file: string, existing: { uid: number; gid: number } | undefined): Promise<{ uid: number; gid: number } | undefined> {
  const euid = effectiveUid();
  if (euid === undefined) return undefined;
  // Without a file, the key directory's user is the owners' user: only they write there.
  const model = existing ?? (await stat(path.dirname(file)).catch(() => undefined));
  if (model === undefined || model.uid === euid) return undefined;
  if (euid === 0) return { uid: model.uid, gid: model.gid };
  throw new OtpError(
    'ERR_OTP_KEY_IO',
    `${existing === undefined ? `the directory of ${file}` : `the key file ${file}`} belongs to uid ${model.uid}, and owners trust only a key file of their own user: run this command as that user`,
  );
}

/** What an existing key file says about the next one: its format, parameters and mode. */
async function existingKeyFile(file: string): Promise<LoadedKey | undefined> {
  try {
    return await readKeyFile(file);
  } catch (error) {
    // A missing file gets a first key; a malformed one is replaced if it is a key file (the
    // write refuses anything else). One that cannot be read is not guessed at.
    if (isOtpError(error, 'ERR_OTP_KEY_IO')) throw error;
    return undefined;
  }
}

/** A file's content for an option (a password, a certificate), read once at start. */
function fileOption(file: string | undefined, option: string): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (error) {
    throw new OtpError('ERR_OTP_KEY_IO', `--${option} ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function modeOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^0?[0-7]{3}$/.test(value)) throw new UsageError('--mode must be octal permission bits such as 0600 or 0640', 'mirror');
  return Number.parseInt(value, 8);
}

/** The mirror's connection, from --etcd (repeated or comma-separated), --name, --user and the TLS files. */
function mirrorConnection(values: Values): { endpoints: string[]; name: string; auth?: { username: string; password: string }; tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer } } {
  const endpoints = (values.etcd ?? []).flatMap((value) => value.split(',')).filter((value) => value !== '');
  if (endpoints.length === 0) throw new UsageError('--etcd URL is required', 'mirror');
  if (values.name === undefined || values.name === '') throw new UsageError('--name NAME is required', 'mirror');
  const connection: ReturnType<typeof mirrorConnection> = { endpoints, name: values.name };
  if (values.user !== undefined) {
    // Never on the command line, where `ps` shows it: a file, or the environment.
    const fromFile = fileOption(values['password-file'], 'password-file')?.toString('utf8').replace(/\r?\n$/, '');
    const password = fromFile ?? process.env.ETCD_PASSWORD;
    if (password === undefined) throw new UsageError('--user needs --password-file FILE or ETCD_PASSWORD in the environment', 'mirror');
    connection.auth = { username: values.user, password };
  }
  const tls = { ca: fileOption(values.cacert, 'cacert'), cert: fileOption(values.cert, 'cert'), key: fileOption(values['cert-key'], 'cert-key') };
  if (tls.ca !== undefined || tls.cert !== undefined || tls.key !== undefined) {
    connection.tls = Object.fromEntries(Object.entries(tls).filter(([, value]) => value !== undefined));
  }
  return connection;
}

const COMMANDS: Record<string, Command> = {
  rotate: {
    usage: `Usage: ${NAME} rotate --key PATH [--format base32|uri] [--digits 6|7|8] [--algorithm SHA1|SHA256|SHA512] [--period SECONDS]

Writes a fresh random key to PATH, atomically, holding the same lock as running owners, which
pick the new key up (keeping the old one valid for their grace period), as do readers.
An existing otpauth URI file keeps its algorithm, digits and period, and the file keeps its
format, permissions (less any write access for group or others) and owner: run as root, the
command gives the new file to the old one's user (or, for a first key, to the directory's user);
run as another user, it refuses. A new file gets mode 0600. --digits, --algorithm and --period
set the new key's parameters (those not given keep the file's, or the defaults: 6, SHA1, 30 s);
any but the defaults make the file an otpauth URI, the only format that carries them.
Prints the new key's id, never the key.`,
    options: ['key', 'format', 'digits', 'algorithm', 'period'],
    positionals: [],
    async run(values) {
      const file = keyOption(values, 'rotate');
      const requested = parametersOption(values);
      const format = formatOption(values.format) ?? (Object.keys(requested).length > 0 ? 'uri' : undefined);
      // Whose the file is decides before anything is read: another user's key may be unreadable.
      const chown = await keyFileOwner(file, await stat(file).catch(() => undefined));
      const keyId = await withLock(
        file,
        async () => {
          const existing = await existingKeyFile(file);
          const target = format ?? existing?.format ?? 'base32';
          // A URI says how its codes are made, and a new URI says it again; a base32 line says
          // nothing, and each side applies its own configuration to it.
          const keep = target === 'uri' && existing?.format === 'uri' ? existing.key : undefined;
          const kept: TotpOptions = keep === undefined ? {} : { algorithm: keep.algorithm, digits: keep.digits as 6 | 7 | 8, period: keep.period };
          existing?.key.destroy();
          const totp = { ...kept, ...requested };
          if (format === 'base32' && Object.keys(requested).length > 0) throw new UsageError('--format base32 cannot carry --digits, --algorithm or --period: use --format uri', 'rotate');
          const mode = (existing?.mode ?? DEFAULT_FILE_MODE) & ~0o022;
          const { key } = await writeNewKey(file, { totp, format: target, mode, chown });
          key.destroy();
          return key.id;
        },
        { chown },
      );
      print(`rotated ${file}: new key ${keyId}`);
      return EXIT_OK;
    },
  },
  code: {
    usage: `Usage: ${NAME} code --key PATH

Prints the current code for the key in PATH (a base32 line or an otpauth URI).`,
    options: ['key'],
    positionals: [],
    async run(values) {
      const { key } = await readKeyFile(keyOption(values, 'code'));
      try {
        print(key.generate());
      } finally {
        key.destroy();
      }
      return EXIT_OK;
    },
  },
  verify: {
    usage: `Usage: ${NAME} verify - --key PATH [--window N]
       ${NAME} verify CODE --key PATH [--window N]

Checks a code against the key in PATH, accepting N steps on each side of now (default 1).
With '-' the code is read from standard input (its first line), where other users cannot see
it; as an argument it is visible to anyone who lists processes (ps) while the command runs.
Exit 0 if valid, 1 if not, 2 on error.`,
    options: ['key', 'window'],
    positionals: ['CODE'],
    async run(values, [argument = '']) {
      const window = windowOption(values.window);
      const file = keyOption(values, 'verify');
      const code = argument === '-' ? ((await text(process.stdin)).split(/\r?\n/, 1)[0] ?? '') : argument;
      const { key } = await readKeyFile(file);
      try {
        if (parseCode(code, key.digits) < 0) {
          complain(`invalid code: a code is ${key.digits} digits`);
          return EXIT_INVALID;
        }
        const delta = key.check(code, window === undefined ? undefined : { window });
        if (delta === null) {
          complain('invalid code');
          return EXIT_INVALID;
        }
        const when = delta === 0 ? 'the current step' : `${Math.abs(delta)} step${Math.abs(delta) > 1 ? 's' : ''} ${delta < 0 ? 'old' : 'ahead'}`;
        print(`valid (${when})`);
        return EXIT_OK;
      } finally {
        key.destroy();
      }
    },
  },
  mirror: {
    usage: `Usage: ${NAME} mirror --etcd URL [--etcd URL ...] --name NAME --key PATH [--mode 0600]
       [--user USER (--password-file FILE | ETCD_PASSWORD=...)] [--cacert FILE] [--cert FILE --cert-key FILE]

Keeps the key file PATH in step with the keyring NAME that EtcdKeyOwner services keep in etcd,
so that thin clients on this host (KeyReader, oathtool, Python, PHP) work unchanged: it writes
the active key now, then each new key at its activation time, atomically, in the key file
format (base32 for the default parameters, an otpauth URI otherwise). It writes nothing else,
and nothing into etcd: give it an etcd user with read access to /totp-handshake/NAME/ only.
The password is read from --password-file or ETCD_PASSWORD, never from the command line.
Prints each event as a JSON line (never a key or a code); runs until SIGTERM or SIGINT, then
exits 0. Exit 2 if it cannot start (etcd unreachable for 10 s, no keyring, PATH not writable).`,
    options: ['key', 'etcd', 'name', 'user', 'password-file', 'cacert', 'cert', 'cert-key', 'mode', 'format'],
    positionals: [],
    async run(values) {
      const file = keyOption(values, 'mirror');
      const connection = mirrorConnection(values);
      const format = formatOption(values.format, 'mirror');
      const fileMode = modeOption(values.mode);
      const mirror = await EtcdKeyMirror.start({
        ...connection,
        path: file,
        ...(format === undefined ? {} : { format }),
        ...(fileMode === undefined ? {} : { fileMode }),
        onEvent: (event) => print(JSON.stringify(event)),
      });
      // The mirror's own timers never hold a process open; this command is meant to run until stopped.
      const alive = setInterval(() => undefined, 2 ** 30);
      await new Promise<void>((resolve) => {
        for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve());
      });
      clearInterval(alive);
      mirror.close();
      return EXIT_OK;
    },
  },
  demo: {
    usage: `Usage: ${NAME} demo

Starts an API process and a thin-client process over a fresh temp directory and shows, step by
step, accepted requests, a key rotation picked up with no refused request, and a wrong code
refused with 401. Cleans up after itself; exits 0 when everything behaved as described.`,
    options: [],
    positionals: [],
    async run() {
      return (await runDemo()) ? EXIT_OK : EXIT_ERROR;
    },
  },
};

/** parseArgs' messages quote the arguments, which may be codes: say what is wrong without them. */
function parseError(error: Error & { code?: string }, command: string): UsageError {
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    // Named only when it reads as an option name: '-123456' may be a code.
    const option = /'(--?[A-Za-z][A-Za-z-]*)'/.exec(error.message)?.[1];
    return new UsageError(option === undefined ? 'unknown option' : `unknown option ${option}`, command);
  }
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const option = /(--[a-z]+)/.exec(error.message)?.[1] ?? 'an option';
    return new UsageError(`${option} needs a value`, command);
  }
  return new UsageError('unexpected extra argument', command);
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = rest[0] !== undefined ? COMMANDS[rest[0]] : undefined;
    print(topic?.usage ?? USAGE);
    return EXIT_OK;
  }
  if (name === '--version' || name === '-v') {
    print(JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).version);
    return EXIT_OK;
  }
  if (name === undefined) throw new UsageError('a command is needed');
  const command = COMMANDS[name];
  // Not echoed: a mistyped command line may hold a code in that place.
  if (command === undefined) throw new UsageError('unknown command');
  let parsed;
  try {
    const options = Object.fromEntries(['help', ...command.options].map((option) => [option, OPTIONS[option as keyof typeof OPTIONS]]));
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw parseError(error as Error, name);
  }
  const values = parsed.values as Values;
  if (values.help === true) {
    print(command.usage);
    return EXIT_OK;
  }
  if (parsed.positionals.length > command.positionals.length) throw new UsageError('unexpected extra argument', name);
  const missing = command.positionals[parsed.positionals.length];
  if (missing !== undefined) throw new UsageError(`${missing} is required`, name);
  return command.run(values, parsed.positionals);
}

// A reader that stops early (`totp-handshake code --key K | head -c0`) closes the pipe: the write
// fails with EPIPE, emitted as an 'error' event that would otherwise crash the process with a
// stack trace. There is no one left to read the output: exit quietly with the command's status.
// Any other output error is one line on stderr (if it still works) and exit 2.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') return;
  process.exitCode = EXIT_ERROR;
  complain(`cannot write the output (${error.code ?? error.message})`);
});
// A closed stderr leaves nowhere to say anything; the exit code still tells.
process.stderr.on('error', () => undefined);

main(process.argv.slice(2)).then(
  (code) => {
    // An output error already set 2: keep it.
    if (process.exitCode !== EXIT_ERROR) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      complain(`${error.message} (see '${NAME}${error.command === undefined ? '' : ` ${error.command}`} --help')`);
    } else if (isOtpError(error)) {
      complain(error.message);
    } else {
      // Not a mistake of the caller's but a bug: the stack is what a report needs.
      complain(`internal error: ${(error as Error)?.stack ?? String(error)}`);
    }
    process.exitCode = EXIT_ERROR;
  },
);
