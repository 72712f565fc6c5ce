/**
 * Boot trimming: a systemd generator that keeps a sandbox's boot short. It masks what a sandbox does not
 * need (package-maintenance timers, first-boot cache rebuilds, debug mounts, the VGA getty), starts
 * containerd and docker after sshd rather than before it, drops sshd's config pre-check, and lets a login
 * go ahead without waiting for the user's `systemd --user` manager to be ready. journald, udev, networkd,
 * sshd, logind and apt stay as they are. `banger.trim=off` on the kernel command line turns it all off
 * (that boot then also orders banger-seed before sysinit.target, as images before it did), so the same
 * image can be measured with and without it.
 */

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
] as const;

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
};

/** Drop-ins written when trimming is off: the seed ordering images had before trimming. */
export const UNTRIMMED_DROPINS: Readonly<Record<string, string>> = {
  'banger-seed.service': '[Unit]\nAfter=local-fs.target\nBefore=sysinit.target\n',
};

function dropins(all: Readonly<Record<string, string>>, indent: string): string {
  return Object.entries(all)
    .map(([unit, content]) =>
      [`mkdir -p "$dir/${unit}.d"`, `cat > "$dir/${unit}.d/banger-boot-trim.conf" <<'BANGER_EOF'`].map((l) => indent + l).join('\n') +
      `\n${content}BANGER_EOF`,
    )
    .join('\n');
}

export const BOOT_TRIM_SCRIPT = `#!/bin/sh
# banger-boot-trim (systemd generator): masks what a sandbox does not need, orders docker after sshd and
# lets logins go ahead before the user's systemd --user manager is ready.
# ${BOOT_TRIM_OFF} on the kernel command line turns it off.
# (BANGER_TRIM_CMDLINE stands in for /proc/cmdline when the script is exercised outside a guest.)
set -u
dir="\${2:-\${1:-/run/systemd/generator.early}}"
mkdir -p "$dir" || exit 0
case " \${BANGER_TRIM_CMDLINE:-$(cat /proc/cmdline 2>/dev/null)} " in
  *" ${BOOT_TRIM_OFF} "*)
${dropins(UNTRIMMED_DROPINS, '    ')}
    exit 0
    ;;
esac
for unit in ${TRIM_MASKED.join(' ')}; do
  ln -sf /dev/null "$dir/$unit"
done
${dropins(TRIM_DROPINS, '')}
exit 0
`;
