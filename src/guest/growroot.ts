/**
 * The unit and script that grow the root filesystem to the size of its disk at every boot.
 *
 * A VM's root is a qcow2 overlay whose virtual size is usually larger than the image's rootfs.ext4, so
 * the ext4 inside starts out small. `resize2fs` grows it online (the kernel's EXT4_IOC_RESIZE_FS) in
 * about a second; when the filesystem already fills the disk it is a no-op. The unit is its own
 * service, not part of banger-seed, so it runs in parallel with the rest of early boot; it is ordered
 * before sshd (so the first command run over SSH sees the full size) but nothing requires it: when
 * it fails, the guest says why on the console and in the journal and boots with the small root.
 */

export const GROWROOT_SCRIPT_PATH = '/usr/local/libexec/banger-growroot';
export const GROWROOT_UNIT_NAME = 'banger-growroot.service';
export const GROWROOT_UNIT_PATH = `/etc/systemd/system/${GROWROOT_UNIT_NAME}`;

/**
 * POSIX sh. BANGER_GROWROOT_MOUNT (default /) names the mounted filesystem to grow, so the script can
 * be exercised on a loop-mounted image outside a guest.
 */
export const GROWROOT_SCRIPT = `#!/bin/sh
# banger-growroot: grows the root filesystem online to the size of its disk (a no-op when it already does).
set -u

MNT="\${BANGER_GROWROOT_MOUNT:-/}"

log() { echo "banger-growroot: $*" >&2; }

for tool in findmnt resize2fs; do
  command -v "$tool" >/dev/null 2>&1 || { log "$tool is not installed; $MNT not grown"; exit 1; }
done

# The filesystem mounted on top at $MNT: its type and device number.
info=$(findmnt -n -r -o FSTYPE,MAJ:MIN --mountpoint "$MNT" 2>/dev/null | tail -n 1)
fstype=\${info%% *}
majmin=\${info#* }
case "$fstype" in
  ext2|ext3|ext4) ;;
  '') log "$MNT is not a mount point; nothing grown"; exit 1 ;;
  *) log "$MNT is $fstype, not ext2/3/4; left as it is"; exit 0 ;;
esac

# The device node, by name from sysfs (findmnt may say /dev/root for a root the kernel mounted itself).
name=$(sed -n 's/^DEVNAME=//p' "/sys/dev/block/$majmin/uevent" 2>/dev/null)
dev=/dev/$name
if [ -z "$name" ] || [ ! -b "$dev" ]; then
  log "no block device for $MNT (device $majmin); not grown"
  exit 1
fi
if [ -e "/sys/dev/block/$majmin/partition" ]; then
  log "$dev is a partition: the filesystem can only grow to the end of the partition"
fi

if out=$(resize2fs "$dev" 2>&1); then
  case "$out" in
    *'Nothing to do'*) log "$MNT on $dev already fills its disk" ;;
    *) log "$MNT on $dev: $(printf '%s\\n' "$out" | grep -v '^[[:space:]]*$' | tail -n 1)" ;;
  esac
  exit 0
fi
log "resize2fs $dev failed; $MNT keeps its size:"
printf '%s\\n' "$out" | sed 's/^/  /' >&2
exit 1
`;

export const GROWROOT_UNIT = `[Unit]
Description=Grow the root filesystem to the size of its disk
DefaultDependencies=no
After=systemd-remount-fs.service
Before=ssh.service shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${GROWROOT_SCRIPT_PATH}
TimeoutStartSec=2min
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=sysinit.target
`;
