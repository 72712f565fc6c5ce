/** passt, for real: started for a VM's run directory, forwarding on the VM address, found and stopped. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { canListen, freeLoopbackPort } from '../../system/net.js';
import { which } from '../../system/exec.js';
import { isAlive } from '../../system/proc.js';
import { runFiles } from '../../model/filenames.js';
import { passtArgv, passtProcesses, startPasst, stopPasst } from './passt.js';

describe('passt', () => {
  it('builds an argv that keeps the host loopback unreachable and forwards sshd and published ports on the VM address', () => {
    const argv = passtArgv('passt', { socket: '/v/a/run/passt.sock', hostAddr: '127.77.1.2', sshHostPort: 22, forwards: [{ hostPort: 8080, guestPort: 80 }], uid: 0, gid: 0 });
    assert.ok(argv.includes('--no-map-gw'));
    assert.deepEqual(argv.filter((_, i) => argv[i - 1] === '--tcp-ports'), ['127.77.1.2/22:22', '127.77.1.2/8080:80']);
    assert.equal(argv[argv.indexOf('--socket') + 1], '/v/a/run/passt.sock');
  });

  it('starts, listens on the VM address, is found under the VMs directory, and stops', { skip: which('passt') ? undefined : 'passt is not installed' }, async () => {
    const vms = mkdtempSync('/tmp/bpt-');
    const runDir = join(vms, 'vm1', 'run');
    try {
      await import('node:fs').then((fs) => fs.mkdirSync(runDir, { recursive: true, mode: 0o700 }));
      const addr = '127.77.251.7';
      const ssh = await freeLoopbackPort(addr);
      const pid = await startPasst(runDir, { hostAddr: addr, sshHostPort: ssh, forwards: [] });
      assert.ok(isAlive(pid));
      assert.ok(existsSync(runFiles(runDir).passtSocket));
      assert.equal(await canListen(addr, ssh), false, 'passt holds the sshd port on the VM address');
      assert.deepEqual(passtProcesses(`${vms}/`).map((p) => p.pid), [pid]);
      await stopPasst(runDir);
      assert.equal(isAlive(pid), false);
      assert.equal(existsSync(runFiles(runDir).passtSocket), false);
      assert.equal(await canListen(addr, ssh), true);
    } finally {
      await stopPasst(runDir);
      rmSync(vms, { recursive: true, force: true });
    }
  });
});
