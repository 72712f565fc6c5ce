/** The files every banger image carries, described once and applied either to a directory tree or to an ext4 image. */
import { createHash } from 'node:crypto';
import { GROWROOT_SCRIPT, GROWROOT_SCRIPT_PATH, GROWROOT_UNIT, GROWROOT_UNIT_NAME, GROWROOT_UNIT_PATH } from './growroot.js';
import { SEED_SCRIPT, SEED_SCRIPT_PATH, SEED_UNIT, SEED_UNIT_NAME, SEED_UNIT_PATH } from './seed-script.js';
import { SSHD_DROPIN, SSHD_DROPIN_PATH } from './sshd.js';
import { BOOT_TRIM_PATH, BOOT_TRIM_SCRIPT } from './boot-trim.js';
import { MISE_PROFILE, MISE_PROFILE_PATH } from './tool-path.js';
import {
  CHANNEL_SCRIPT,
  CHANNEL_SCRIPT_PATH,
  CHANNEL_SERVICE_PATH,
  CHANNEL_SERVICE_UNIT,
  CHANNEL_SOCKET_NAME,
  CHANNEL_SOCKET_PATH,
  CHANNEL_SOCKET_UNIT,
  CTRL_ALT_DEL_PATH,
  CTRL_ALT_DEL_TARGET,
  VSOCK_MODULES,
  VSOCK_MODULES_PATH,
} from './channel.js';
import { SERIAL_CHANNEL_RULE, SERIAL_CHANNEL_RULE_PATH, SERIAL_CHANNEL_SCRIPT, SERIAL_CHANNEL_SCRIPT_PATH, SERIAL_CHANNEL_UNIT, SERIAL_CHANNEL_UNIT_PATH } from './serial-channel.js';

export type GuestBit =
  | { type: 'file'; path: string; content: string; mode: number }
  | { type: 'symlink'; path: string; target: string };

/**
 * Bumped whenever what is injected changes in a way images should be rebuilt for (2: root grows to
 * its disk; 3: ctrl-alt-del powers off, vsock guest channel; 4: boot trimming, seed off sysinit's path;
 * 5: mise's shims on PATH over SSH and in login shells; 6: the guest channel's ports answers as ss does; 7: the guest channel re-addresses a restored guest;
 * 8: a login does not wait for the user's systemd --user manager; 9: the guest channel on a virtio-serial port, and its identity command;
 * 10: a trimmed boot applies the seed before the work disk is mounted, the seed disk is found by its serial, binfmt and the work
 * disk's fsck are left out of trimmed boots, docker starts on demand, and an SSH login runs no motd scripts;
 * 11: a trimmed boot's seed puts a static address on the network card itself; 12: the guest channel's settle waits for udev's idle
 * workers to end; 13: a trimmed boot under emulation blacklists the modules for the CPU's virtualization and SIMD crypto features).
 */
export const GUEST_BITS_VERSION = 13;
export const GUEST_BITS_MARKER = '/etc/banger/guest-bits';

const UNITS = '/lib/systemd/system';
const LOCAL = '/etc/systemd/system';

export const WORK_DISK_DEVICE = '/dev/vdb';
export const FSTAB_PATH = '/etc/fstab';
const FSTAB_COMMENT = "# banger: the per-VM work disk holds root's home";
export const FSTAB_ROOT_LINE = `${WORK_DISK_DEVICE} /root ext4 defaults,x-systemd.device-timeout=90s 0 2`;

export function guestBits(): GuestBit[] {
  return [
    { type: 'file', path: SEED_SCRIPT_PATH, content: SEED_SCRIPT, mode: 0o755 },
    { type: 'file', path: SEED_UNIT_PATH, content: SEED_UNIT, mode: 0o644 },
    { type: 'symlink', path: `${LOCAL}/sysinit.target.wants/${SEED_UNIT_NAME}`, target: SEED_UNIT_PATH },
    { type: 'file', path: GROWROOT_SCRIPT_PATH, content: GROWROOT_SCRIPT, mode: 0o755 },
    { type: 'file', path: GROWROOT_UNIT_PATH, content: GROWROOT_UNIT, mode: 0o644 },
    { type: 'symlink', path: `${LOCAL}/sysinit.target.wants/${GROWROOT_UNIT_NAME}`, target: GROWROOT_UNIT_PATH },
    { type: 'file', path: SSHD_DROPIN_PATH, content: SSHD_DROPIN, mode: 0o644 },
    { type: 'file', path: MISE_PROFILE_PATH, content: MISE_PROFILE, mode: 0o644 },
    { type: 'symlink', path: `${LOCAL}/getty.target.wants/serial-getty@ttyS0.service`, target: `${UNITS}/serial-getty@.service` },
    { type: 'symlink', path: `${LOCAL}/multi-user.target.wants/systemd-networkd.service`, target: `${UNITS}/systemd-networkd.service` },
    { type: 'symlink', path: `${LOCAL}/sockets.target.wants/systemd-networkd.socket`, target: `${UNITS}/systemd-networkd.socket` },
    { type: 'symlink', path: `${LOCAL}/dbus-org.freedesktop.network1.service`, target: `${UNITS}/systemd-networkd.service` },
    { type: 'symlink', path: CTRL_ALT_DEL_PATH, target: CTRL_ALT_DEL_TARGET },
    { type: 'file', path: CHANNEL_SCRIPT_PATH, content: CHANNEL_SCRIPT, mode: 0o755 },
    { type: 'file', path: CHANNEL_SOCKET_PATH, content: CHANNEL_SOCKET_UNIT, mode: 0o644 },
    { type: 'file', path: CHANNEL_SERVICE_PATH, content: CHANNEL_SERVICE_UNIT, mode: 0o644 },
    { type: 'symlink', path: `${LOCAL}/sockets.target.wants/${CHANNEL_SOCKET_NAME}`, target: CHANNEL_SOCKET_PATH },
    { type: 'file', path: SERIAL_CHANNEL_SCRIPT_PATH, content: SERIAL_CHANNEL_SCRIPT, mode: 0o755 },
    { type: 'file', path: SERIAL_CHANNEL_UNIT_PATH, content: SERIAL_CHANNEL_UNIT, mode: 0o644 },
    { type: 'file', path: SERIAL_CHANNEL_RULE_PATH, content: SERIAL_CHANNEL_RULE, mode: 0o644 },
    { type: 'file', path: VSOCK_MODULES_PATH, content: VSOCK_MODULES, mode: 0o644 },
    { type: 'file', path: BOOT_TRIM_PATH, content: BOOT_TRIM_SCRIPT, mode: 0o755 },
    { type: 'file', path: GUEST_BITS_MARKER, content: `version=${GUEST_BITS_VERSION}\n`, mode: 0o644 },
  ];
}

/** /etc/fstab with the work disk mounted at /root (any other /root entry is replaced). */
export function patchFstab(current: string | undefined): string {
  const kept = (current ?? '')
    .split('\n')
    .filter((line) => {
      const fields = line.trim().split(/\s+/);
      return !(fields.length >= 2 && !line.trim().startsWith('#') && fields[1] === '/root');
    })
    .filter((line) => !/^# UNCONFIGURED FSTAB/.test(line) && line !== FSTAB_COMMENT);
  while (kept.length > 0 && kept[kept.length - 1]!.trim() === '') kept.pop();
  kept.push(FSTAB_COMMENT, FSTAB_ROOT_LINE);
  return kept.join('\n') + '\n';
}

export const PAM_SSHD_PATH = '/etc/pam.d/sshd';
export const PAM_MOTD_OFF = '# banger: no motd scripts on each login: ';
const DYNAMIC_MOTD = /^\s*session\s+\S+\s+pam_motd\.so\b(?!.*\bnoupdate\b)/;

/**
 * sshd's PAM stack without the dynamic motd: Debian's `pam_motd.so motd=/run/motd.dynamic` runs every
 * script in /etc/update-motd.d on every login, a command's as well as a shell's, which costs seconds of a
 * first login under TCG. The static /etc/motd (`noupdate`) is still shown. An image without the file keeps none.
 */
export function patchPamSshd(current: string | undefined): string | undefined {
  if (current === undefined) return undefined;
  return current
    .split('\n')
    .map((line) => (DYNAMIC_MOTD.test(line) ? PAM_MOTD_OFF + line : line))
    .join('\n');
}

/** An image file banger rewrites from the image's own version (undefined: the file stays as it is). */
export interface GuestPatch {
  path: string;
  patch(current: string | undefined): string | undefined;
}

export function guestPatches(): GuestPatch[] {
  return [
    { path: FSTAB_PATH, patch: patchFstab },
    { path: PAM_SSHD_PATH, patch: patchPamSshd },
  ];
}

/**
 * Paths a banger image does not carry: docker and containerd are not started at boot (docker.socket
 * starts both on the first docker command); a `banger.trim=off` boot starts them as the image did.
 */
export const GUEST_ABSENT = [`${LOCAL}/multi-user.target.wants/docker.service`, `${LOCAL}/multi-user.target.wants/containerd.service`] as const;

/** A digest of everything injected, for cache keys. */
export function guestBitsDigest(): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ v: GUEST_BITS_VERSION, bits: guestBits(), fstab: FSTAB_ROOT_LINE, pam: PAM_MOTD_OFF, absent: GUEST_ABSENT }));
  return h.digest('hex');
}
