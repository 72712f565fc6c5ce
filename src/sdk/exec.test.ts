/** How the SDK turns a command, cwd and env into the argv run in the guest. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../system/exec.js';
import { remoteArgv } from './exec.js';

describe('remoteArgv', () => {
  it('passes an argv as it is and runs a string with sh -c', () => {
    assert.deepEqual(remoteArgv(['ls', '-l']), ['ls', '-l']);
    assert.deepEqual(remoteArgv('echo hi | wc -c'), ['sh', '-c', 'echo hi | wc -c']);
  });

  it('applies cwd and env through a wrapper a POSIX shell runs as intended', async () => {
    const argv = remoteArgv(['sh', '-c', 'printf "%s|%s" "$A" "$(pwd)"'], { cwd: '/tmp', env: { A: "x y 'z'" } });
    assert.equal((await run(argv)).stdout, "x y 'z'|/tmp");
  });

  it('refuses empty commands and bad variable names', () => {
    assert.throws(() => remoteArgv([]), /needs a command/);
    assert.throws(() => remoteArgv('  '), /needs a command/);
    assert.throws(() => remoteArgv(['true'], { env: { 'A-B': '1' } }), /invalid environment variable/);
  });
});
