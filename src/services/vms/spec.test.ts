import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveSpec, specLine } from './spec.js';
import { bootArgs } from '../../guest/cmdline.js';
import { vmFiles } from '../../model/filenames.js';
import { BangerError } from '../../api/errors.js';

const GiB = 1024 ** 3;
const host = { cpus: 8, memoryBytes: 32 * GiB };

describe('vm spec resolution', () => {
  it('uses host heuristics, then built-ins, and says where each value came from', () => {
    const r = resolveSpec({}, {}, host);
    assert.deepEqual(r.spec, { vcpu: 2, memoryMiB: 4096, diskSizeBytes: 8 * GiB, rootSizeBytes: 8 * GiB, nat: false });
    assert.deepEqual(r.from, { vcpu: 'auto', memoryMiB: 'auto', diskSizeBytes: 'builtin', rootSizeBytes: 'builtin' });
    const big = resolveSpec({}, {}, { cpus: 32, memoryBytes: 256 * GiB });
    assert.equal(big.spec.vcpu, 4);
    assert.equal(big.spec.memoryMiB, 8192);
    const small = resolveSpec({}, {}, { cpus: 1, memoryBytes: 2 * GiB });
    assert.equal(small.spec.vcpu, 1);
    assert.equal(small.spec.memoryMiB, 1024);
  });
  it('prefers the request over config over heuristics', () => {
    const cfg = { vcpu: 3, memory_mib: 2048, disk_size: '4G', system_overlay_size: '12G' };
    const c = resolveSpec({}, cfg, host);
    assert.deepEqual(c.spec, { vcpu: 3, memoryMiB: 2048, diskSizeBytes: 4 * GiB, rootSizeBytes: 12 * GiB, nat: false });
    assert.deepEqual(c.from, { vcpu: 'config', memoryMiB: 'config', diskSizeBytes: 'config', rootSizeBytes: 'config' });
    const r = resolveSpec({ vcpu: 1, memoryMiB: 512, diskSize: '2G', rootSize: '20G', nat: true }, cfg, host);
    assert.deepEqual(r.spec, { vcpu: 1, memoryMiB: 512, diskSizeBytes: 2 * GiB, rootSizeBytes: 20 * GiB, nat: true });
  });
  it('refuses out-of-range values with a hint', () => {
    const bad = (req: Parameters<typeof resolveSpec>[0], re: RegExp) =>
      assert.throws(() => resolveSpec(req, {}, host), (e: unknown) => e instanceof BangerError && e.code === 'bad_request' && re.test(e.message) && Boolean(e.hint));
    bad({ vcpu: 0 }, /vcpu 0 is out of range/);
    bad({ vcpu: 9 }, /more than this host's 8 CPUs/);
    bad({ memoryMiB: 64 }, /memory 64 MiB is out of range/);
    bad({ memoryMiB: 64 * 1024 }, /more than this host has/);
    bad({ diskSize: '1M' }, /disk size 1M is out of range/);
    bad({ diskSize: 'lots' }, /invalid size "lots"/);
    bad({ rootSize: '1M' }, /root size 1M is out of range/);
  });
  it('prints the spec line', () => {
    assert.equal(specLine({ vcpu: 2, memoryMiB: 1024, diskSizeBytes: 8 * GiB, nat: false }), 'spec: 2 vcpu | 1024 MiB | 8G disk');
    assert.equal(specLine({ vcpu: 2, memoryMiB: 1024, diskSizeBytes: 8 * GiB, rootSizeBytes: 16 * GiB, nat: false }), 'spec: 2 vcpu | 1024 MiB | 8G disk | 16G root');
  });
  it('builds the kernel command line and VM file names', () => {
    assert.equal(bootArgs({ hostname: 'dev' }), 'console=ttyS0 root=/dev/vda rw rootfstype=ext4 panic=-1 net.ifnames=0 systemd.hostname=dev');
    const f = vmFiles('/s/vms', 'abc');
    assert.equal(f.rootDisk('qcow2'), '/s/vms/abc/root.qcow2');
    assert.equal(f.rootDisk('raw'), '/s/vms/abc/root.img');
    assert.deepEqual(
      [f.dir, f.workDisk, f.seedDisk, f.consoleLog, f.handles, f.hostKey, f.runDir, f.run.controlSocket, f.run.pidFile, f.run.sshControl],
      ['/s/vms/abc', '/s/vms/abc/work.ext4', '/s/vms/abc/seed.ext4', '/s/vms/abc/console.log', '/s/vms/abc/handles.json', '/s/vms/abc/ssh_host_ed25519_key',
        '/s/vms/abc/run', '/s/vms/abc/run/control.sock', '/s/vms/abc/run/vmm.pid', '/s/vms/abc/run/ssh.ctl'],
    );
  });
});
