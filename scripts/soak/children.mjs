// The worker processes of the soaks and of `npm run cluster:latency`: forked with an IPC channel,
// listened to at once, watched for exits nobody asked for, stopped politely or killed.

/** Parses a whole-number option of `values`, at least `min`; a bad one ends the process with exit 2. */
export function wholeOption(values, name, min, script = 'soak') {
  const value = Number(values[name]);
  if (!Number.isSafeInteger(value) || value < min) {
    console.error(`${script}: --${name} must be a whole number, ${min} or more`);
    process.exit(2);
  }
  return value;
}

/**
 * A set of worker processes. `failures` collects what went wrong; `crash` resolves at the first,
 * so that a run can stop waiting early. An exit counts as a failure unless the worker was asked
 * to stop and exited 0, was killed on purpose (`killedOnPurpose`), or everything is being killed.
 */
export function workers(fork, { dir, cwd, timeoutMs }) {
  const children = new Set();
  const failures = [];
  let crashed;
  const crash = new Promise((resolve) => (crashed = resolve));
  let killing = false;

  function fail(what) {
    failures.push(what);
    crashed();
  }

  /** Forks `dir/script` and listens to it at once (an owner may rotate before it says it is ready). */
  function start(script, args, name, onMessage) {
    const child = fork(`${dir}/${script}`, args, { cwd, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    child.name = name;
    children.add(child);
    child.on('message', onMessage);
    child.on('exit', (code, signal) => {
      children.delete(child);
      if (!killing && !child.killedOnPurpose && (!child.stopping || code !== 0)) fail(`${name} exited (${code ?? signal})`);
    });
    return child;
  }

  /** The next message of `type` from `child`, or a rejection if it exits or hangs first. */
  function next(child, type) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(reject, new Error(`${child.name} sent no '${type}' within ${timeoutMs} ms`)), timeoutMs);
      const onMessage = (message) => message.type === type && done(resolve, message);
      const onExit = () => done(reject, new Error(`${child.name} exited before '${type}'`));
      function done(settle, value) {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        settle(value);
      }
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  }

  /** Asks the workers of `group` still running to stop and waits for their last counts. */
  async function stopAll(group) {
    await Promise.all(
      group.filter((child) => children.has(child)).map(async (child) => {
        child.stopping = true;
        const stopped = next(child, 'stopped');
        child.send('stop');
        return stopped;
      }),
    );
  }

  /** Kills every worker still running; exits from now on are no failures. */
  function killAll() {
    killing = true;
    for (const child of children) child.kill('SIGKILL');
  }

  return { children, failures, crash, fail, start, next, stopAll, killAll };
}
