// Helpers the browser runs share: a named checker that counts, polling with deadlines,
// sleeping, a child's end awaited with a deadline, and a watchdog over the whole run.

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `p` or, after `ms`, `onLate()`'s value: no await in the tests waits without a bound. */
export function within(p, ms, onLate) {
  let timer;
  const late = new Promise((r) => {
    timer = setTimeout(() => r(onLate()), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * Poll `f` until it returns something truthy (errors count as "not yet"), or false at `ms`.
 * Each call of `f` counts against the same deadline: one that hangs (a request the server
 * never answers) ends the wait too.
 */
export async function until(f, ms = 20000) {
  const end = Date.now() + ms;
  const NOT_YET = Symbol('not yet');
  for (;;) {
    try {
      const v = await within(Promise.resolve().then(f), Math.max(end - Date.now(), 1), () => NOT_YET);
      if (v && v !== NOT_YET) return v;
    } catch {
      /* not yet */
    }
    if (Date.now() > end) return false;
    await sleep(200);
  }
}

/** Signal child process `p` and wait for its exit at most `ms`; then SIGKILL, and say so. */
export async function stopChild(p, ms = 15000) {
  if (p.exitCode !== null || p.signalCode !== null) return true;
  const exited = new Promise((r) => p.once('exit', () => r(true)));
  p.kill('SIGTERM');
  if (await within(exited, ms, () => false)) return true;
  console.log(`FAIL: pid ${p.pid} still running ${ms / 1000} s after SIGTERM: killed`);
  p.kill('SIGKILL');
  await within(exited, 5000, () => false);
  return false;
}

/**
 * End the process with a failure if the whole run takes longer than `ms`, naming the phase
 * it was in (`phase()`): a browser call that never returns cannot hang the suite.
 */
export function watchdog(prefix, ms, phase) {
  setTimeout(() => {
    console.log(`${prefix}: FAIL the run took over ${ms / 1000} s (in phase: ${phase()})`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }, ms).unref();
}

/** `check(name, ok, detail)` printing `PREFIX: ok|FAIL name`; `summary()` the closing line. */
export function checker(prefix) {
  let passed = 0;
  let failed = 0;
  const check = (name, ok, detail = '') => {
    if (ok) passed++;
    else failed++;
    console.log(`${prefix}: ${ok ? 'ok  ' : 'FAIL'} ${name}${!ok && detail ? ` (${detail})` : ''}`);
  };
  const summary = () => {
    console.log(`${passed} passed, ${failed} failed`);
    return failed;
  };
  return { check, summary };
}
