/** The /init of banger's small initramfs: load the modules a VM needs, mount root, switch to it. */
import { rootArgCases } from '../../guest/init-args.js';

export const INITRAMFS_MODULE_DIR = '/lib/modules/banger';

export const INIT_SCRIPT = `#!/bin/busybox sh
# banger initramfs: loads virtio, ext4 and vsock modules, mounts the root filesystem and switches to it.
/bin/busybox mkdir -p /proc /sys /dev /run /newroot /bin /sbin /usr/bin /usr/sbin
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mount -t tmpfs -o mode=0755 tmpfs /dev
exec 0</dev/console 1>/dev/console 2>&1
mount -t sysfs sysfs /sys

fail() {
  echo "banger initramfs: $*"
  echo "banger initramfs: powering off"
  sleep 2
  poweroff -f
}

nap() {
  sleep 0.1 2>/dev/null || sleep 1
}

if [ -f ${INITRAMFS_MODULE_DIR}/order ]; then
  while read -r mod; do
    [ -n "$mod" ] || continue
    insmod "${INITRAMFS_MODULE_DIR}/$mod.ko" 2>/dev/null || echo "banger initramfs: could not load $mod"
  done < ${INITRAMFS_MODULE_DIR}/order
fi

root="" fstype=ext4 flags="" mode=rw init=/sbin/init
for arg in $(cat /proc/cmdline); do
  case "$arg" in
${rootArgCases('    ')}
  esac
done
[ -n "$root" ] || fail "no root= on the kernel command line"

dev=""
i=0
while [ "$i" -lt 300 ]; do
  case "$root" in
    LABEL=*|UUID=*) dev=$(findfs "$root" 2>/dev/null || true) ;;
    *) dev=$root ;;
  esac
  if [ -n "$dev" ] && [ -b "$dev" ]; then break; fi
  i=$((i + 1))
  nap
done
[ -n "$dev" ] && [ -b "$dev" ] || fail "root device $root did not appear"

opts=$mode
[ -z "$flags" ] || opts="$opts,$flags"
mount -t "$fstype" -o "$opts" "$dev" /newroot || fail "could not mount $dev ($fstype, $opts)"
[ -x "/newroot$init" ] || [ -L "/newroot$init" ] || fail "$init is missing on the root filesystem"

mount --move /dev /newroot/dev 2>/dev/null || umount /dev
mount --move /sys /newroot/sys 2>/dev/null || umount /sys
mount --move /proc /newroot/proc 2>/dev/null || umount /proc
exec switch_root /newroot "$init"
`;
