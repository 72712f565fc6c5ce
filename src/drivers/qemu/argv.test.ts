import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BangerError } from '../../api/errors.js';
import type { LaunchSpec } from '../hypervisor.js';
import { hasChannelChardev, qemuArgv, qemuOptValue, qmpChardevArg } from './argv.js';
import { argvHash } from '../vmm-process.js';

const base: LaunchSpec = {
  vmId: 'vm-1',
  name: 'dev',
  vcpu: 2,
  memoryMiB: 1024,
  kernelPath: '/k/vmlinuz',
  initrdPath: '/k/initrd.img',
  cmdline: 'console=ttyS0 root=/dev/vda rw',
  disks: [
    { path: '/vms/vm-1/root.qcow2', format: 'qcow2', serial: 'root' },
    { path: '/vms/vm-1/work.ext4', format: 'raw', serial: 'work' },
    { path: '/vms/vm-1/seed.ext4', format: 'raw', readOnly: true, serial: 'seed' },
  ],
  network: { mode: 'user', sshHostPort: 2222 },
  runDir: '/run/banger/vm-1',
  consoleLog: '/vms/vm-1/console.log',
};

const tail = [
  '-device', 'virtio-rng-pci',
  '-chardev', 'file,id=console0,path=/vms/vm-1/console.log',
  '-serial', 'chardev:console0',
  '-chardev', 'socket,id=qmp0,path=/run/banger/vm-1/control.sock,server=on,wait=off',
  '-mon', 'chardev=qmp0,mode=control',
  '-device', 'virtio-serial-pci,id=vser0',
  '-chardev', 'socket,id=channel0,path=/run/banger/vm-1/channel.sock,server=on,wait=off',
  '-device', 'virtserialport,bus=vser0.0,chardev=channel0,name=org.banger.channel',
  '-pidfile', '/run/banger/vm-1/vmm.pid',
];

function expectBadRequest(spec: LaunchSpec, pattern: RegExp): void {
  assert.throws(
    () => qemuArgv(spec, { bin: 'qemu-system-x86_64', accel: 'tcg' }),
    (err: unknown) => err instanceof BangerError && err.code === 'bad_request' && pattern.test(err.message),
  );
}

describe('qemuArgv', () => {
  it('tells a process with the guest channel port from one without it', () => {
    const argv = qemuArgv(base, { bin: 'qemu-system-x86_64', accel: 'tcg' });
    assert.equal(hasChannelChardev(argv), true);
    const i = argv.findIndex((a) => a.startsWith('socket,id=channel0,'));
    assert.equal(hasChannelChardev([...argv.slice(0, i - 1), ...argv.slice(i + 1)]), false);
  });
  it('builds the full command line for user networking under tcg', () => {
    assert.deepEqual(qemuArgv(base, { bin: 'qemu-system-x86_64', accel: 'tcg' }), [
      'qemu-system-x86_64',
      '-name', 'banger-vm-1',
      '-machine', 'q35,memory-backend=pc.ram',
      '-accel', 'tcg,thread=multi',
      '-cpu', 'max',
      '-smp', '2',
      '-m', '1024M',
      '-object', 'memory-backend-file,id=pc.ram,size=1024M,mem-path=/run/banger/vm-1/guest.ram,share=on',
      '-nodefaults',
      '-no-user-config',
      '-display', 'none',
      '-no-reboot',
      '-kernel', '/k/vmlinuz',
      '-initrd', '/k/initrd.img',
      '-append', 'console=ttyS0 root=/dev/vda rw',
      '-drive', 'if=none,id=disk0,file=/vms/vm-1/root.qcow2,format=qcow2,discard=unmap',
      '-device', 'virtio-blk-pci,drive=disk0,serial=root',
      '-drive', 'if=none,id=disk1,file=/vms/vm-1/work.ext4,format=raw,discard=unmap',
      '-device', 'virtio-blk-pci,drive=disk1,serial=work',
      '-drive', 'if=none,id=disk2,file=/vms/vm-1/seed.ext4,format=raw,readonly=on',
      '-device', 'virtio-blk-pci,drive=disk2,serial=seed',
      '-netdev', 'user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22',
      '-device', 'virtio-net-pci,netdev=net0',
      ...tail,
    ]);
  });

  it('uses the host cpu under kvm, a tap device, and no initrd', () => {
    const spec: LaunchSpec = {
      ...base,
      initrdPath: undefined,
      disks: [{ path: '/r.qcow2', format: 'qcow2' }],
      network: { mode: 'tap', tap: 'tap-vm1', mac: '02:fc:00:00:00:01' },
    };
    delete spec.initrdPath;
    assert.deepEqual(qemuArgv(spec, { bin: '/usr/bin/qemu-system-x86_64', accel: 'kvm' }), [
      '/usr/bin/qemu-system-x86_64',
      '-name', 'banger-vm-1',
      '-machine', 'q35,memory-backend=pc.ram',
      '-accel', 'kvm',
      '-cpu', 'host',
      '-smp', '2',
      '-m', '1024M',
      '-object', 'memory-backend-file,id=pc.ram,size=1024M,mem-path=/run/banger/vm-1/guest.ram,share=on',
      '-nodefaults',
      '-no-user-config',
      '-display', 'none',
      '-no-reboot',
      '-kernel', '/k/vmlinuz',
      '-append', 'console=ttyS0 root=/dev/vda rw',
      '-drive', 'if=none,id=disk0,file=/r.qcow2,format=qcow2,discard=unmap',
      '-device', 'virtio-blk-pci,drive=disk0',
      '-netdev', 'tap,id=net0,ifname=tap-vm1,script=no,downscript=no',
      '-device', 'virtio-net-pci,netdev=net0,mac=02:fc:00:00:00:01',
      ...tail,
    ]);
  });

  it('maps a RAM image privately for a restore, instead of the VM\'s own shared RAM file', () => {
    const argv = qemuArgv(base, { bin: 'q', accel: 'tcg', incoming: true, ramImage: '/snaps/s,1/memory.ram' });
    assert.equal(argv[argv.indexOf('-object') + 1], 'memory-backend-file,id=pc.ram,size=1024M,mem-path=/snaps/s,,1/memory.ram,share=off');
    assert.ok(!argv.join(' ').includes('guest.ram'));
    assert.throws(() => qemuArgv(base, { bin: 'q', accel: 'tcg', ramImage: 'memory.ram' }), /RAM image path must be absolute/);
  });

  it('adds no network device in mode none and honours a host address in user mode', () => {
    const none = qemuArgv({ ...base, network: { mode: 'none' } }, { bin: 'q', accel: 'tcg' });
    assert.equal(none.includes('-netdev'), false);
    const bound = qemuArgv({ ...base, network: { mode: 'user', sshHostPort: 40022, hostAddr: '0.0.0.0' } }, { bin: 'q', accel: 'tcg' });
    assert.ok(bound.includes('user,id=net0,restrict=on,hostfwd=tcp:0.0.0.0:40022-:22'));
  });

  it('restricts slirp and publishes forwards on the VM address; the egress endpoint is a guestfwd to the connector', () => {
    const fwd = [{ hostPort: 8080, guestPort: 80 }, { hostPort: 3000, guestPort: 3000 }];
    const closed = qemuArgv({ ...base, network: { mode: 'user', sshHostPort: 22, hostAddr: '127.77.1.2', forwards: fwd } }, { bin: 'q', accel: 'tcg' });
    assert.ok(closed.includes('user,id=net0,restrict=on,hostfwd=tcp:127.77.1.2:22-:22,hostfwd=tcp:127.77.1.2:8080-:80,hostfwd=tcp:127.77.1.2:3000-:3000'), closed.join(' '));
    const egressEndpoint = { guestAddr: '10.0.2.100', guestPort: 3128, socket: '/run/banger/vm-1/egress.sock' };
    const open = qemuArgv({ ...base, network: { mode: 'user', sshHostPort: 22, hostAddr: '127.77.1.2', egressEndpoint, forwards: fwd } }, { bin: 'q', accel: 'tcg', connector: '/usr/bin/socat' });
    const netdev = open[open.indexOf('-netdev') + 1] ?? '';
    assert.match(netdev, /^user,id=net0,restrict=on,hostfwd=/, 'still restricted slirp: no packet leaves, 10.0.2.2 stays closed');
    assert.ok(netdev.endsWith(',guestfwd=tcp:10.0.2.100:3128-cmd:/usr/bin/socat -lf /dev/null STDIO UNIX-CONNECT:/run/banger/vm-1/egress.sock'), netdev);
    expectBadRequest({ ...base, network: { mode: 'user', sshHostPort: 22, egressEndpoint: { ...egressEndpoint, socket: '/run/a b,c/egress.sock' } } }, /egress socket path/);
    assert.throws(() => qemuArgv({ ...base, network: { mode: 'user', sshHostPort: 22, egressEndpoint } }, { bin: 'q', accel: 'tcg' }), /egress connector/);
    expectBadRequest({ ...base, network: { mode: 'user', sshHostPort: 22, forwards: [{ hostPort: 70000, guestPort: 80 }] } }, /host port 70000/);
  });

  it('doubles commas in option values and passes verbatim values as they are', () => {
    const argv = qemuArgv(
      {
        ...base,
        kernelPath: '/a,b/vmlinuz',
        disks: [{ path: '/d,1/root.qcow2', format: 'qcow2' }],
        runDir: '/run/x,y',
        consoleLog: '/l,og',
      },
      { bin: 'q', accel: 'tcg' },
    );
    assert.ok(argv.includes('/a,b/vmlinuz'));
    assert.ok(argv.includes('if=none,id=disk0,file=/d,,1/root.qcow2,format=qcow2,discard=unmap'));
    assert.ok(argv.includes('file,id=console0,path=/l,,og'));
    assert.ok(argv.includes('socket,id=qmp0,path=/run/x,,y/control.sock,server=on,wait=off'));
    assert.ok(argv.includes('/run/x,y/vmm.pid'));
    assert.equal(qemuOptValue('a,,b'), 'a,,,,b');
    assert.equal(qmpChardevArg('/s'), 'socket,id=qmp0,path=/s,server=on,wait=off');
  });

  it('rejects specs QEMU cannot be given safely', () => {
    expectBadRequest({ ...base, vcpu: 0 }, /vcpu count must be an integer from 1 to 64/);
    expectBadRequest({ ...base, vcpu: 65 }, /vcpu/);
    expectBadRequest({ ...base, vcpu: 1.5 }, /vcpu/);
    expectBadRequest({ ...base, memoryMiB: 127 }, /memory/);
    expectBadRequest({ ...base, memoryMiB: 1_048_577 }, /memory/);
    expectBadRequest({ ...base, vmId: 'Bad_Id' }, /vm id/);
    expectBadRequest({ ...base, kernelPath: 'vmlinuz' }, /kernel path must be absolute/);
    expectBadRequest({ ...base, initrdPath: '/a\nb' }, /initrd path must not contain control characters/);
    expectBadRequest({ ...base, disks: [{ path: 'rel.qcow2', format: 'qcow2' }] }, /disk 0 path/);
    expectBadRequest({ ...base, disks: [{ path: '/r', format: 'vmdk' as 'raw' }] }, /unknown format/);
    expectBadRequest({ ...base, disks: [{ path: '/r', format: 'raw', serial: 'a,b' }] }, /serial/);
    expectBadRequest({ ...base, disks: [{ path: '/r', format: 'raw', serial: 'x'.repeat(21) }] }, /serial/);
    expectBadRequest({ ...base, cmdline: 'a\nb' }, /single line/);
    expectBadRequest({ ...base, cmdline: 'x'.repeat(2048) }, /longer than 2047/);
    expectBadRequest({ ...base, runDir: `/${'r'.repeat(100)}` }, /control socket path/);
    expectBadRequest({ ...base, network: { mode: 'user', sshHostPort: 0 } }, /ssh host port/);
    expectBadRequest({ ...base, network: { mode: 'user', sshHostPort: 22, hostAddr: 'localhost' } }, /host address/);
    expectBadRequest({ ...base, network: { mode: 'tap', tap: 'tap,x', mac: '02:00:00:00:00:01' } }, /tap/);
    expectBadRequest({ ...base, network: { mode: 'tap', tap: 'a'.repeat(16), mac: '02:00:00:00:00:01' } }, /tap/);
    expectBadRequest({ ...base, network: { mode: 'tap', tap: 'tap0', mac: '02:00:00:00:01' } }, /MAC/);
  });

  it('hashes an argv the way /proc/<pid>/cmdline joins it', () => {
    assert.equal(argvHash(['a', 'b']), '59b271ae1bbcb1d31d41929817f4b16fb439eb4f31520b5ad1d5ce98920a7138');
    assert.notEqual(argvHash(['a', 'b']), argvHash(['ab']));
    assert.notEqual(argvHash(['a b']), argvHash(['a', 'b']));
  });
});
