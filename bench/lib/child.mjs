// One case, one fresh process (better-sqlite3 style): no JIT feedback, inline caches or heap
// state leak from one case into the next.
//   node bench/lib/child.mjs CASE_ID '{"time":300,"warmupTime":100,"minSamples":64}'
// Prints one JSON line on stdout: the figures, { skipped }, or { error }.
import { Skip } from './correctness.mjs';
import { measure } from './measure.mjs';
import { findCase } from '../suites/index.mjs';

const [id, settingsJson] = process.argv.slice(2);
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
try {
  print({ ok: true, ...(await measure(findCase(id), JSON.parse(settingsJson))) });
} catch (error) {
  if (error instanceof Skip) {
    print({ id, skipped: error.message });
  } else {
    print({ id, error: error instanceof Error ? error.stack ?? error.message : String(error) });
    process.exitCode = 1;
  }
}
