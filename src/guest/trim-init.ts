/**
 * The initramfs /init of a trimmed boot. banger appends it to an initramfs-tools initramfs (see
 * services/images/initrd-trim.ts) together with that initramfs's own /init, kept as INITRAMFS_TOOLS_INIT.
 * On a trimmed boot it loads the modules the initramfs lists in /conf/modules (MODULES=list: virtio_pci
 * and virtio_blk), waits for the root device node, mounts root and hands over to its init: no udevd, no
 * coldplug, no settle. It also mounts root's /run (systemd keeps a /run it finds mounted) and masks
 * there the systemd generators a sandbox has no use for (TRIM_GENERATORS_MASKED), and mounts the work disk
 * at /root when the image's fstab has banger's line for it, so the boot does not wait for udev there either. With `banger.trim=off` on the kernel command line, a root= that is not a device
 * path, or anything on that path failing, it runs initramfs-tools' /init as an untrimmed boot does.
 * It also loads the drivers of the network card, the guest channel and the entropy device from root's
 * module tree (TRIM_EARLY_MODULES). Only what an initramfs-tools initramfs carries is used: klibc's sh,
 * mount, sleep and run-init, kmod.
 */
import { BOOT_TRIM_OFF, TRIM_GENERATORS_MASKED } from './boot-trim.js';
import { WORK_DISK_DEVICE } from './guest-bits.js';
import { rootArgCases } from './init-args.js';

/** Where the initramfs-tools /init goes in the appended chunk. */
export const INITRAMFS_TOOLS_INIT = '/init.initramfs-tools';
/** How long the trimmed path waits for the root device node, in 10 ms steps. */
export const ROOT_WAIT_STEPS = 500;
/** How long it waits for the work disk's node once root is mounted (it appears with root's), in 10 ms steps. */
export const WORK_WAIT_STEPS = 100;
/**
 * Drivers a trimmed boot loads from root's module tree before systemd starts: the network card's, the
 * guest channel's and the entropy device's. Left to udev, they load only once it gets to their devices'
 * events, seconds into userspace under TCG (the network card's at about 18 s of a 17 s boot), and the
 * guest's address, so the first SSH connection, waits for that. A kernel with them built in, or a root
 * whose modules are not this kernel's, loads nothing here and leaves them to udev as before.
 */
export const TRIM_EARLY_MODULES = ['virtio_net', 'virtio_console', 'virtio_rng'] as const;

/**
 * POSIX sh. BANGER_INIT_ROOT (a prefix for every path) and BANGER_INIT_PATH (PATH) exist so the script
 * can be exercised outside an initramfs with stand-in commands.
 */
export const TRIM_INIT_SCRIPT = `#!/bin/sh
# banger: trimmed-boot /init (loads the listed modules, mounts root, runs its init); falls back to
# initramfs-tools' own /init, kept as ${INITRAMFS_TOOLS_INIT}, for ${BOOT_TRIM_OFF} and on any failure.
export PATH="\${BANGER_INIT_PATH:-/sbin:/usr/sbin:/bin:/usr/bin}"
R="\${BANGER_INIT_ROOT:-}"
[ -d "$R/proc" ] || mkdir "$R/proc"
[ -d "$R/dev" ] || mkdir -m 0755 "$R/dev"
[ -d "$R/root" ] || mkdir -m 0700 "$R/root"
mount -t proc -o nodev,noexec,nosuid proc "$R/proc"
# The kernel's arguments for init, handed on as words.
initargs="$*"

untrimmed() {
  [ -z "\${1:-}" ] || echo "banger init: $1; booting through initramfs-tools"
  umount "$R/root/root" 2>/dev/null
  umount "$R/root" 2>/dev/null
  umount "$R/dev" 2>/dev/null
  umount "$R/proc"
  exec "$R${INITRAMFS_TOOLS_INIT}" $initargs
}

root="" fstype="" flags="" mode=rw init=/sbin/init fsck=''
for arg in $(cat "$R/proc/cmdline"); do
  case "$arg" in
    ${BOOT_TRIM_OFF}) untrimmed ;;
${rootArgCases('    ')}
    fsck.mode=force) fsck=force ;;
  esac
done
case "$root" in
  /dev/*) ;;
  *) untrimmed "root=$root is not a device path" ;;
esac

mount -t devtmpfs -o nosuid,mode=0755 udev "$R/dev" || untrimmed "could not mount /dev"
if [ -f "$R/conf/modules" ]; then
  while read -r mod opts; do
    case "$mod" in
      ''|'#'*) continue ;;
    esac
    modprobe -q -b "$mod" $opts || echo "banger init: could not load $mod"
  done < "$R/conf/modules"
fi

i=0
while [ ! -b "$R$root" ]; do
  i=$((i + 1))
  [ "$i" -le ${ROOT_WAIT_STEPS} ] || untrimmed "$root did not appear"
  sleep 0.01
done

mount -t "\${fstype:-ext4}" -o "$mode\${flags:+,$flags}" "$R$root" "$R/root" || untrimmed "could not mount $root"
[ -x "$R/root$init" ] || [ -L "$R/root$init" ] || untrimmed "$init is missing on $root"
modprobe -q -b -a -d "$R/root" ${TRIM_EARLY_MODULES.join(' ')} || echo "banger init: ${TRIM_EARLY_MODULES.join(', ')} are left to udev"
# The work disk, where the image's fstab mounts it (/root), so that the boot does not wait for udev to
# announce it: systemd finds it mounted, from the same device path. fsck.mode=force leaves it to systemd
# (checked first), and so does anything failing here.
work=''
if [ -z "$fsck" ] && [ -f "$R/root/etc/fstab" ]; then
  while read -r dev dir _rest; do
    [ "$dev" != ${WORK_DISK_DEVICE} ] || [ "$dir" != /root ] || work=yes
  done < "$R/root/etc/fstab"
fi
if [ -n "$work" ]; then
  i=0
  while [ ! -b "$R${WORK_DISK_DEVICE}" ] && [ "$i" -lt ${WORK_WAIT_STEPS} ]; do
    i=$((i + 1))
    sleep 0.01
  done
  if [ ! -b "$R${WORK_DISK_DEVICE}" ] || ! mount -t ext4 -o rw "$R${WORK_DISK_DEVICE}" "$R/root/root"; then
    echo "banger init: ${WORK_DISK_DEVICE} is left to systemd"
  fi
fi
mount -n -o move "$R/dev" "$R/root/dev" || untrimmed "could not move /dev"
mount -n -o move "$R/proc" "$R/root/proc"
if mount -t tmpfs -o nodev,noexec,nosuid,size=10%,mode=0755 tmpfs "$R/root/run"; then
  mkdir -p "$R/root/run/systemd/system-generators"
  for gen in ${TRIM_GENERATORS_MASKED.join(' ')}; do
    ln -s /dev/null "$R/root/run/systemd/system-generators/$gen"
  done
fi
exec run-init "$R/root" "$init" "$@" <"$R/root/dev/console" >"$R/root/dev/console" 2>&1
`;
