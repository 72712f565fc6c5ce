/**
 * The QEMU command line for a VM, built from a LaunchSpec with no side effects.
 *
 * QEMU parses option values like `file=...,format=...`, where a literal comma is written as two.
 * Values that go through that parser are escaped with {@link qemuOptValue}; values that QEMU
 * takes verbatim (-kernel, -initrd, -append, -pidfile) are not.
 *
 * @module
 */
import { isAbsolute } from 'node:path';
import { badRequest } from '../../api/errors.js';
import { runFiles } from '../../model/filenames.js';
import type { Accel, DiskSpec, LaunchSpec, NetworkSpec, PortForward } from '../hypervisor.js';

/** Unix socket paths are limited to 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH = 107;

/** x86 COMMAND_LINE_SIZE, including the terminating NUL. */
export const MAX_KERNEL_CMDLINE = 2047;

export const VCPU_RANGE = { min: 1, max: 64 } as const;
export const MEMORY_MIB_RANGE = { min: 128, max: 1_048_576 } as const;

export interface QemuArgvOptions {
  /** The qemu-system-x86_64 binary (a name on PATH or an absolute path). */
  bin: string;
  accel: Accel;
  /** Start paused, waiting for saved state over QMP (migrate-incoming) instead of booting. */
  incoming?: boolean;
  /** The -sandbox (seccomp) value, when this QEMU supports it (see contain.ts). */
  sandbox?: string;
  /** socat (absolute path): the connector slirp starts per guest connection to the egress endpoint. */
  connector?: string;
  /**
   * A RAM image to map privately (copy on write) instead of the VM's own shared RAM file: a restore
   * from a snapshot saved with one, whose unchanged pages stay shared with other VMs restored from it.
   */
  ramImage?: string;
}

export function qmpSocketPath(runDir: string): string {
  return runFiles(runDir).controlSocket;
}

export function pidFilePath(runDir: string): string {
  return runFiles(runDir).pidFile;
}

/** The id of the guest's RAM backend; `pc.ram` is what a plain `-m` names it, so saved state moves between the two. */
export const RAM_BACKEND_ID = 'pc.ram';

/**
 * Guest RAM is a file: the VM's own (shared mapping, in its run directory) so that a snapshot can keep a
 * frozen copy of it, or a snapshot's RAM image mapped privately by a restore.
 */
function ramArgs(spec: LaunchSpec, ramImage: string | undefined): string[] {
  const path = ramImage ?? runFiles(spec.runDir).guestRam;
  return ['-object', `memory-backend-file,id=${RAM_BACKEND_ID},size=${spec.memoryMiB}M,mem-path=${qemuOptValue(path)},share=${ramImage ? 'off' : 'on'}`];
}

/** Escapes a value for QEMU's `key=value,...` option syntax. */
export function qemuOptValue(value: string): string {
  return value.replaceAll(',', ',,');
}

/** The -chardev value of the QMP socket; its presence in /proc/<pid>/cmdline identifies the VM's process. */
export function qmpChardevArg(socketPath: string): string {
  return `socket,id=qmp0,path=${qemuOptValue(socketPath)},server=on,wait=off`;
}


/** The full argv, starting with the binary. Throws bad_request for a spec QEMU could not be given safely. */
export function qemuArgv(spec: LaunchSpec, opts: QemuArgvOptions): string[] {
  validateSpec(spec);
  if (opts.ramImage !== undefined) checkPath('RAM image', opts.ramImage);
  const argv = [
    opts.bin,
    '-name', `banger-${spec.vmId}`,
    '-machine', `q35,memory-backend=${RAM_BACKEND_ID}`,
    ...accelArgs(opts.accel),
    '-smp', String(spec.vcpu),
    '-m', `${spec.memoryMiB}M`,
    ...ramArgs(spec, opts.ramImage),
    '-nodefaults',
    '-no-user-config',
    '-display', 'none',
    '-no-reboot',
    '-kernel', spec.kernelPath,
  ];
  if (opts.sandbox !== undefined) argv.splice(1, 0, '-sandbox', opts.sandbox);
  if (spec.initrdPath !== undefined) argv.push('-initrd', spec.initrdPath);
  argv.push('-append', spec.cmdline);
  spec.disks.forEach((disk, i) => argv.push(...diskArgs(disk, i)));
  argv.push(...networkArgs(spec.network, opts.connector));
  if (spec.vmGenId !== undefined) argv.push('-device', `vmgenid,guid=${spec.vmGenId}`);
  argv.push(
    '-device', 'virtio-rng-pci',
    '-chardev', `file,id=console0,path=${qemuOptValue(spec.consoleLog)}`,
    '-serial', 'chardev:console0',
    '-chardev', qmpChardevArg(qmpSocketPath(spec.runDir)),
    '-mon', 'chardev=qmp0,mode=control',
    ...channelArgs(spec.runDir),
    '-pidfile', pidFilePath(spec.runDir),
  );
  if (opts.incoming) argv.push('-S', '-incoming', 'defer');
  return argv;
}

/** The virtio-serial port of the guest channel (guest/serial-channel.ts); its host end is a socket in the run directory. */
export const CHANNEL_PORT_NAME = 'org.banger.channel';

const CHANNEL_CHARDEV_PREFIX = 'socket,id=channel0,';

/** Whether a QEMU process's argv has the guest channel's port (processes started before it existed do not). */
export function hasChannelChardev(argv: readonly string[]): boolean {
  return argv.some((a) => a.startsWith(CHANNEL_CHARDEV_PREFIX));
}

function channelArgs(runDir: string): string[] {
  return [
    '-device', 'virtio-serial-pci,id=vser0',
    '-chardev', `${CHANNEL_CHARDEV_PREFIX}path=${qemuOptValue(runFiles(runDir).channelSocket)},server=on,wait=off`,
    '-device', `virtserialport,bus=vser0.0,chardev=channel0,name=${CHANNEL_PORT_NAME}`,
  ];
}

function accelArgs(accel: Accel): string[] {
  return accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi', '-cpu', 'max'];
}

function diskArgs(disk: DiskSpec, index: number): string[] {
  const id = `disk${index}`;
  let drive = `if=none,id=${id},file=${qemuOptValue(disk.path)},format=${disk.format}`;
  drive += disk.readOnly ? ',readonly=on' : ',discard=unmap';
  let device = `virtio-blk-pci,drive=${id}`;
  if (disk.serial !== undefined) device += `,serial=${disk.serial}`;
  return ['-drive', drive, '-device', device];
}

/** The `hostfwd` rule (and `hostfwd_add` argument) that publishes a guest TCP port on `host`. */
export function hostfwdRule(host: string, fwd: PortForward): string {
  return `tcp:${host}:${fwd.hostPort}-:${fwd.guestPort}`;
}

/** The connector slirp starts per guest connection to the egress endpoint (Debian package socat). */
export const EGRESS_CONNECTOR_BIN = 'socat';

/** Paths slirp's command parser (GLib shell quoting) and socat's address parser take verbatim. */
const PLAIN_PATH = /^\/[A-Za-z0-9/._+-]+$/;

/**
 * User mode is QEMU's slirp with `restrict=on`: the guest reaches nothing, not even the host's
 * loopback at 10.0.2.2, while hostfwd rules (sshd, published ports) still work. The one opening is
 * the egress endpoint: a `guestfwd` rule that starts the connector for each guest connection to its
 * address and port, joining it to a unix socket where the daemon decides what it may reach.
 */
function networkArgs(net: NetworkSpec, connector: string | undefined): string[] {
  switch (net.mode) {
    case 'user': {
      const host = net.hostAddr ?? '127.0.0.1';
      const device = ['-device', `virtio-net-pci,netdev=net0${net.mac ? `,mac=${net.mac}` : ''}`];
      const rules = [{ hostPort: net.sshHostPort, guestPort: 22 }, ...(net.forwards ?? [])].map((f) => `,hostfwd=${hostfwdRule(host, f)}`);
      const e = net.egressEndpoint;
      if (e) {
        if (!PLAIN_PATH.test(e.socket)) throw badRequest(`egress socket path "${e.socket}" has characters other than letters, digits and /._+-`);
        if (!connector || !PLAIN_PATH.test(connector)) throw badRequest(`invalid egress connector path "${connector ?? ''}"`);
        if (!IPV4.test(e.guestAddr) || !Number.isInteger(e.guestPort) || e.guestPort < 1 || e.guestPort > 65535) throw badRequest(`invalid egress endpoint ${e.guestAddr}:${e.guestPort}`);
        rules.push(`,guestfwd=tcp:${e.guestAddr}:${e.guestPort}-cmd:${connector} -lf /dev/null STDIO UNIX-CONNECT:${e.socket}`);
      }
      return ['-netdev', `user,id=net0,restrict=on${rules.join('')}`, ...device];
    }
    case 'tap':
      return [
        '-netdev', `tap,id=net0,ifname=${net.tap},script=no,downscript=no`,
        '-device', `virtio-net-pci,netdev=net0,mac=${net.mac}`,
      ];
    case 'none':
      return [];
  }
}

const VM_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SERIAL = /^[A-Za-z0-9_.-]{1,20}$/;
const TAP = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function validateSpec(spec: LaunchSpec): void {
  if (!VM_ID.test(spec.vmId)) throw badRequest(`invalid vm id "${spec.vmId}"`);
  checkRange('vcpu count', spec.vcpu, VCPU_RANGE);
  checkRange('memory (MiB)', spec.memoryMiB, MEMORY_MIB_RANGE);
  checkPath('kernel', spec.kernelPath);
  if (spec.initrdPath !== undefined) checkPath('initrd', spec.initrdPath);
  checkPath('run directory', spec.runDir);
  checkPath('console log', spec.consoleLog);
  if (spec.vmGenId !== undefined && !UUID.test(spec.vmGenId)) throw badRequest(`invalid VM generation id "${spec.vmGenId}" (a UUID)`);
  if (/[\0\n\r]/.test(spec.cmdline)) throw badRequest('kernel command line must be a single line');
  if (Buffer.byteLength(spec.cmdline) > MAX_KERNEL_CMDLINE) {
    throw badRequest(`kernel command line is longer than ${MAX_KERNEL_CMDLINE} bytes`);
  }
  for (const sock of [qmpSocketPath(spec.runDir), runFiles(spec.runDir).channelSocket]) {
    if (Buffer.byteLength(sock) > MAX_SOCKET_PATH) {
      throw badRequest(`control socket path "${sock}" is longer than ${MAX_SOCKET_PATH} bytes`, 'use a shorter state directory (BANGER_HOME)');
    }
  }
  spec.disks.forEach((disk, i) => {
    checkPath(`disk ${i}`, disk.path);
    if (disk.format !== 'qcow2' && disk.format !== 'raw') throw badRequest(`disk ${i}: unknown format "${String(disk.format)}"`);
    if (disk.serial !== undefined && !SERIAL.test(disk.serial)) {
      throw badRequest(`disk ${i}: serial "${disk.serial}" must be 1-20 letters, digits, '.', '_' or '-'`);
    }
  });
  validateNetwork(spec.network);
}

function validateNetwork(net: NetworkSpec): void {
  switch (net.mode) {
    case 'user':
      if (!Number.isInteger(net.sshHostPort) || net.sshHostPort < 1 || net.sshHostPort > 65535) {
        throw badRequest(`invalid ssh host port ${String(net.sshHostPort)}`);
      }
      if (net.hostAddr !== undefined && !IPV4.test(net.hostAddr)) throw badRequest(`invalid host address "${net.hostAddr}"`);
      if (net.mac !== undefined && !MAC.test(net.mac)) throw badRequest(`invalid MAC address "${net.mac}"`);
      for (const f of net.forwards ?? []) validateForward(f);
      return;
    case 'tap':
      if (!TAP.test(net.tap)) throw badRequest(`invalid tap device name "${net.tap}"`);
      if (!MAC.test(net.mac)) throw badRequest(`invalid MAC address "${net.mac}"`);
      return;
    case 'none':
      return;
    default:
      throw badRequest(`unknown network mode "${String((net as { mode: unknown }).mode)}"`);
  }
}

export function validateForward(f: PortForward): void {
  for (const [what, n] of [['host', f.hostPort], ['guest', f.guestPort]] as const) {
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw badRequest(`invalid ${what} port ${String(n)} in a forward (1-65535)`);
  }
}

function checkRange(what: string, n: number, range: { min: number; max: number }): void {
  if (!Number.isInteger(n) || n < range.min || n > range.max) {
    throw badRequest(`${what} must be an integer from ${range.min} to ${range.max}, got ${String(n)}`);
  }
}

function checkPath(what: string, p: string): void {
  if (typeof p !== 'string' || !isAbsolute(p)) throw badRequest(`${what} path must be absolute, got "${String(p)}"`);
  if (/[\0\n\r]/.test(p)) throw badRequest(`${what} path must not contain control characters`);
}
