/**
 * Boot trimming: a systemd generator that keeps a sandbox's boot short. It masks what a sandbox does not
 * need (package-maintenance timers, first-boot cache rebuilds, debug mounts, the VGA getty), starts
 * containerd and docker after sshd rather than before it, drops sshd's config pre-check, lets a login
 * go ahead without waiting for the user's `systemd --user` manager to be ready, applies the seed
 * without waiting for the work disk (udev, fsck and the /root mount): only root's authorized keys wait
 * for /root, in a second unit, and leaves out the work disk's fsck unless fsck.mode=force asks for it. journald, udev, networkd, sshd, logind and apt stay as they are.
 * docker and containerd are not started at boot in any banger image: docker.socket starts them on the first
 * docker command; an untrimmed boot starts them at boot, as the image would have.
 * Under emulation (QEMU's TCG, which has no kvm-clock) it also keeps udev from loading, one after the
 * other, the modules for the CPU's virtualization and SIMD crypto features (TRIM_EMULATED_BLACKLIST).
 * `banger.trim=off` on the kernel command line turns it all off (that boot then also orders banger-seed
 * before sysinit.target, as images before it did), so the same image can be measured with and without
 * it; the initramfs's /init (trim-init.ts) reads the same word.
 */
import { SEED_KEYS_UNIT, SEED_KEYS_UNIT_NAME, SEED_UNIT_NAME, TRIMMED_SEED_UNIT } from './seed-script.js';

export const BOOT_TRIM_PATH = '/etc/systemd/system-generators/banger-boot-trim';
export const BOOT_TRIM_OFF = 'banger.trim=off';

/** Units masked on a trimmed boot. Masking a unit an image does not have is harmless. */
export const TRIM_MASKED = [
  'apt-daily.timer',
  'apt-daily-upgrade.timer',
  'dpkg-db-backup.timer',
  'e2scrub_all.timer',
  'e2scrub_reap.service',
  'fstrim.timer',
  'man-db.timer',
  // ConditionNeedsUpdate=/etc: with no /etc/.updated in the image these run on every first boot of a VM.
  'systemd-hwdb-update.service',
  'ldconfig.service',
  'systemd-journal-catalog-update.service',
  'systemd-update-done.service',
  'systemd-pstore.service',
  'modprobe@drm.service',
  'sys-kernel-debug.mount',
  'sys-kernel-tracing.mount',
  'sys-kernel-config.mount',
  'sys-fs-fuse-connections.mount',
  'dev-hugepages.mount',
  'getty@tty1.service',
  // Parses every profile in /etc/apparmor.d before sysinit.target; docker loads its own profile itself.
  'apparmor.service',
  // Registers python3's .pyc handler (the image's only binfmt.d entry) before sysinit.target.
  'systemd-binfmt.service',
  'proc-sys-fs-binfmt_misc.automount',
] as const;

/**
 * systemd generators a trimmed boot skips: disk encryption, integrity and verity, GPT auto-mounts,
 * hibernation resume, offline updates and SysV init scripts (every script in the image has a native
 * unit), none of which a sandbox has. systemd runs its generators before it starts anything, so the
 * initramfs's trimmed /init (trim-init.ts) masks them in /run before systemd starts.
 */
export const TRIM_GENERATORS_MASKED = [
  'systemd-cryptsetup-generator',
  'systemd-integritysetup-generator',
  'systemd-veritysetup-generator',
  'systemd-gpt-auto-generator',
  'systemd-hibernate-resume-generator',
  'systemd-system-update-generator',
  'systemd-sysv-generator',
] as const;

/**
 * Modules a trimmed boot under emulation keeps udev from loading for the CPU's features: loading them
 * (decompression, relocation, the crypto self-tests) cost udev's workers 1.1 to 1.6 s of emulated CPU per
 * boot, partly after the VM is reported ready. KVM inside an emulated guest is of next to no use, and the
 * kernel's generic code serves what kernel crypto a sandbox does (user space has its own). A
 * blacklist only stops loading by alias: `modprobe kvm_amd` still loads the module. Under KVM these
 * modules cost next to nothing and nested KVM may be wanted, so they load as usual.
 */
export const TRIM_EMULATED_BLACKLIST = [
  'kvm',
  'kvm_amd',
  'kvm_intel',
  'aesni_intel',
  'ghash_clmulni_intel',
  'polyval_clmulni',
  'sha1_ssse3',
  'sha256_ssse3',
  'sha512_ssse3',
  'crc32_pclmul',
  'crc32c_intel',
  'crct10dif_pclmul',
  'powernow_k8',
] as const;

/** Where a trimmed boot under emulation writes its blacklist (kmod reads /run/modprobe.d). */
export const TRIM_MODPROBE_CONF = '/run/modprobe.d/banger-boot-trim.conf';

/** Units a trimmed boot defines itself (over the image's own, if any): unit -> content. */
export const TRIM_UNITS: Readonly<Record<string, string>> = {
  [SEED_UNIT_NAME]: TRIMMED_SEED_UNIT,
  [SEED_KEYS_UNIT_NAME]: SEED_KEYS_UNIT,
};



/** Drop-ins written on a trimmed boot: unit -> content. */
export const TRIM_DROPINS: Readonly<Record<string, string>> = {
  'ssh.service': '[Service]\nExecStartPre=\n',
  'containerd.service': '[Unit]\nAfter=ssh.service\n',
  'docker.service': '[Unit]\nAfter=ssh.service\n',
  'systemd-networkd-wait-online.service': '[Service]\nExecStart=\nExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=30\n',
  // logind starts user@UID.service for a login's session and hands the session out only once that unit's
  // start job is done; as Type=notify that is when the user manager reached its default.target (seconds
  // under TCG, on every first login). As Type=simple the job is done once the manager is started, so an
  // ssh command runs at once and `systemctl --user` works as soon as the manager is up.
  'user@.service': '[Service]\nType=simple\n',
  // The work disk's check (the only systemd-fsck@ instance in a banger image): e2fsck of a clean journaled
  // ext4 finds nothing but costs seconds under TCG, on the way to /root and sshd; the kernel replays the
  // journal when it mounts the disk. fsck.mode=force on the kernel command line still runs it.
  'systemd-fsck@.service': '[Unit]\nConditionKernelCommandLine=fsck.mode=force\n',
  // The second half of the trimmed seed (TRIM_UNITS): root's authorized keys once /root is mounted.
  'sysinit.target': `[Unit]\nWants=${SEED_KEYS_UNIT_NAME}\n`,
};

/** Drop-ins written when trimming is off: the seed ordering images had before trimming. */
export const UNTRIMMED_DROPINS: Readonly<Record<string, string>> = {
  'banger-seed.service': '[Unit]\nAfter=local-fs.target\nBefore=sysinit.target\n',
  // A banger image starts docker on demand (GUEST_ABSENT in guest-bits.ts); untrimmed, it starts at boot as Debian's image does.
  'multi-user.target': '[Unit]\nWants=containerd.service docker.service\n',
};

/** A single-quoted shell word. */
function sq(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * Shell lines writing each unit's drop-in, or the unit itself. One mkdir for all the directories and
 * builtins for the rest: under TCG every fork costs a sizeable share of a second, and systemd waits for
 * its generators before it starts anything.
 */
function writes(all: Readonly<Record<string, string>>, kind: 'dropin' | 'unit', indent: string, alsoMkdir = ''): string {
  const path = (unit: string): string => (kind === 'dropin' ? `$dir/${unit}.d/banger-boot-trim.conf` : `$dir/${unit}`);
  const lines = Object.entries(all).map(([unit, content]) => `printf '%s' ${sq(content)} > "${path(unit)}"`);
  if (kind === 'dropin') lines.unshift(`mkdir -p ${alsoMkdir}${Object.keys(all).map((u) => `"$dir/${u}.d"`).join(' ')}`);
  return lines.map((l) => l.split('\n').map((x, n) => (n === 0 ? indent + x : x)).join('\n')).join('\n');
}

export const BOOT_TRIM_SCRIPT = `#!/bin/sh
# banger-boot-trim (systemd generator): masks what a sandbox does not need, orders docker after sshd,
# lets logins go ahead before the user's systemd --user manager is ready and applies the seed early.
# ${BOOT_TRIM_OFF} on the kernel command line turns it off.
# Under emulation (no kvm-clock) it blacklists the modules for the CPU's virtualization and SIMD crypto features.
# (BANGER_TRIM_CMDLINE, BANGER_TRIM_CLOCKSOURCES and BANGER_TRIM_MODPROBE stand in for /proc/cmdline, the
# clocksources and ${TRIM_MODPROBE_CONF} when the script is exercised outside a guest.)
set -u
dir="\${2:-\${1:-/run/systemd/generator.early}}"
[ -d "$dir" ] || mkdir -p "$dir" || exit 0
cmdline="\${BANGER_TRIM_CMDLINE:-}"
[ -n "$cmdline" ] || read -r cmdline < /proc/cmdline || true
case " $cmdline " in
  *" ${BOOT_TRIM_OFF} "*)
${writes(UNTRIMMED_DROPINS, 'dropin', '    ')}
    exit 0
    ;;
esac
# An empty unit file masks the unit, as a symlink to /dev/null does.
for unit in ${TRIM_MASKED.join(' ')}; do
  : > "$dir/$unit"
done
clocks="\${BANGER_TRIM_CLOCKSOURCES:-}"
[ -n "$clocks" ] || read -r clocks < /sys/devices/system/clocksource/clocksource0/available_clocksource || true
modprobe="\${BANGER_TRIM_MODPROBE:-${TRIM_MODPROBE_CONF}}"
modprobe_dir=''
case " $clocks " in
  *" kvm-clock "*) ;;
  *[a-z]*) modprobe_dir="\${modprobe%/*}" ;;
esac
${writes(TRIM_DROPINS, 'dropin', '', '${modprobe_dir:+"$modprobe_dir"} ')}
[ -z "$modprobe_dir" ] || printf 'blacklist %s\n' ${TRIM_EMULATED_BLACKLIST.join(' ')} > "$modprobe"
${writes(TRIM_UNITS, 'unit', '')}
exit 0
`;
