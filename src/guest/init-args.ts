/**
 * The kernel command-line words an initramfs /init reads to mount root and start its init, as `case`
 * branches of a POSIX sh loop over the words in `$arg`: root=, rootfstype=, rootflags=, ro/rw and init=
 * set $root, $fstype, $flags, $mode and $init. Shared by banger's initramfs for imported kernels and the
 * trimmed boot's /init.
 */
export function rootArgCases(indent: string): string {
  return [
    'root=*) root=${arg#root=} ;;',
    'rootfstype=*) fstype=${arg#rootfstype=} ;;',
    'rootflags=*) flags=${arg#rootflags=} ;;',
    'ro) mode=ro ;;',
    'rw) mode=rw ;;',
    'init=*) init=${arg#init=} ;;',
  ]
    .map((l) => indent + l)
    .join('\n');
}
