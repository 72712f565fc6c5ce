/** The kernel command line of banger images: root on the first virtio disk, console on the serial port. */
export function bootArgs(opts: { hostname: string; extra?: string[] }): string {
  return ['console=ttyS0', 'root=/dev/vda', 'rw', 'rootfstype=ext4', 'panic=-1', `systemd.hostname=${opts.hostname}`, ...(opts.extra ?? [])].join(' ');
}
