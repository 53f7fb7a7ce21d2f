// Reads a clinic flame data directory (.clinic/PID.clinic-flame/) and says where the server's
// CPU samples went: the share whose stack passes through the guard, and the hottest leaf frames.
// Each sample is one stack, root first; an empty stack is a sample outside JS and native code.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// The library's frames: the built package (JS) and the addon (C++ symbols or the .node file).
const LIBRARY_FRAME = /\/dist\/(http|handshake|engine)\/|\/dist\/(key|options)\.js|totp_handshake\.node|\btotp::/;
// The request handler (every mode assigns its arrow function to `handler`), not the module body.
const HANDLER_FRAME = /^handler \S*bench\/http\/server\.mjs/;
const IDLE_LEAF = /^epoll_(p)?wait/;

export function summarizeFlame(dataDir) {
  const file = readdirSync(dataDir).find((f) => f.endsWith('-samples'));
  if (file === undefined) throw new Error(`no *-samples file in ${dataDir}`);
  const stacks = JSON.parse(readFileSync(join(dataDir, file), 'utf8')).filter((stack) => stack.length > 0);
  const busy = stacks.filter((stack) => !IDLE_LEAF.test(stack[stack.length - 1].name));
  const handler = busy.filter((stack) => stack.some((frame) => HANDLER_FRAME.test(frame.name)));
  // The guard's per-request work: library frames under the request handler. Library frames
  // elsewhere are start-up (loading modules, writing the key file) and timers.
  const guard = handler.filter((stack) => stack.some((frame) => LIBRARY_FRAME.test(frame.name)));
  // Node builds req.headers lazily, on the first read: a cost any header check pays (the
  // no-check server never reads a header).
  const headerParse = handler.filter((stack) => stack.some((f) => /^get node:_http_incoming/.test(f.name)));
  const startup = busy.filter((stack) => !stack.some((f) => HANDLER_FRAME.test(f.name)) && stack.some((f) => LIBRARY_FRAME.test(f.name)));

  const count = (list, key) => {
    const counts = new Map();
    for (const item of list) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
    return [...counts].sort((a, b) => b[1] - a[1]);
  };
  const pct = (n) => `${((n / busy.length) * 100).toFixed(1)}%`;
  const short = (name) => name.replace(/file:\/\/\S*?\/(bench|dist)\//, '$1/').replace(/\s+\S*\/(dist|bench)\//, ' $1/').trim();

  const leaves = count(busy, (stack) => short(stack[stack.length - 1].name));
  // Per library function: samples whose stack contains it (inclusive), to show what inside the
  // guard costs what.
  const libraryFrames = count(
    guard.flatMap((stack) => [...new Set(stack.filter((f) => LIBRARY_FRAME.test(f.name)).map((f) => short(f.name)))]),
    (name) => name,
  );
  const lines = [
    `flame: ${stacks.length} samples, ${busy.length} busy (not waiting in epoll)`,
    `  in the request handler (bench/http/server.mjs, incl. writing the response): ${handler.length} = ${pct(handler.length)}`,
    `  of which through the library (otpCheck, decide, KeyOwner, TotpKey, engine): ${guard.length} = ${pct(guard.length)}`,
    ...(headerParse.length > 0 ? [`  building req.headers on the first header read (node:_http_incoming): ${headerParse.length} = ${pct(headerParse.length)}`] : []),
    `  library frames outside requests (start-up, key file, timers): ${startup.length} = ${pct(startup.length)}`,
    '  library functions within requests (inclusive samples):',
    ...libraryFrames.slice(0, 12).map(([name, n]) => `    ${String(n).padStart(6)}  ${pct(n).padStart(6)}  ${name}`),
    '  hottest leaf frames (self samples):',
    ...leaves.slice(0, 12).map(([name, n]) => `    ${String(n).padStart(6)}  ${pct(n).padStart(6)}  ${name}`),
  ];
  return lines.join('\n');
}

const DOCTOR_CATEGORIES = {
  none: 'no issue detected',
  io: 'I/O: the process is often idle while requests are pending, i.e. it waits on something outside itself (here the load generator shares the cores) rather than being CPU-bound',
  'event-loop': 'event loop: synchronous work blocks it',
  gc: 'garbage collection: the heap churns',
  data: 'too little data to say',
};

/** The verdict clinic doctor embedded in its HTML report. */
export function summarizeDoctor(htmlPath) {
  const html = readFileSync(htmlPath, 'utf8');
  const category = /"issueCategory":"([\w-]+)"/.exec(html)?.[1];
  const issues = /"issues":(\{"delay":"\w+","cpu":"\w+","memory":\{[^}]*\}\})/.exec(html)?.[1];
  if (category === undefined) throw new Error('no issueCategory in the doctor report');
  return [
    `doctor: ${category}: ${DOCTOR_CATEGORIES[category] ?? category}`,
    issues ? `  per resource (none = fine): ${issues}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}
