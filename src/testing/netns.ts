/**
 * Host-network tests run inside a network namespace they create: a test file calls runInNetns() at
 * its top; outside a namespace that registers one test which creates a fresh namespace, runs the same
 * file again inside it (`ip netns exec`) and passes when that run passes; inside, it returns true and
 * the file registers its real tests. The namespace is deleted afterwards, with everything in it.
 *
 * @module
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { run, runUnchecked } from '../system/exec.js';

const MARK = 'BANGER_TEST_NETNS';

/** The environment of the inner run: without the outer runner's NODE_TEST_CONTEXT, which would turn its exit status into 0. */
function childEnv(ns: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, [MARK]: ns };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

/**
 * Whether this process runs inside a test namespace (then the file's tests run here). `prepare` runs
 * first in the outer process, in the host's namespace: work that needs the host's network, such as
 * building a shared image from the Debian archive, which a fresh namespace cannot reach.
 */
export function runInNetns(fileUrl: string, name: string, timeoutMs = 240_000, prepare?: () => Promise<unknown>): boolean {
  if (process.env[MARK]) return true;
  test(`${name} (inside a fresh network namespace)`, { timeout: timeoutMs + 10_000 + (prepare ? 30 * 60_000 : 0) }, async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('needs root for network namespaces');
      return;
    }
    await prepare?.();
    const ns = `bgt-${process.pid}`;
    await run(['ip', 'netns', 'add', ns]);
    try {
      await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      const r = await runUnchecked(['ip', 'netns', 'exec', ns, process.execPath, '--test', '--test-concurrency=1', '--test-reporter=spec', fileURLToPath(fileUrl)], {
        env: childEnv(ns),
        timeoutMs,
      });
      assert.equal(r.code, 0, `tests in namespace ${ns} failed:\n${r.stdout}\n${r.stderr}`);
    } finally {
      await runUnchecked(['ip', 'netns', 'del', ns]);
    }
  });
  return false;
}
