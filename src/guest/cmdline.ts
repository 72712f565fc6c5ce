/**
 * The kernel command line of banger images: root on the first virtio disk, console on the serial port,
 * and the network card keeps the kernel's name (eth0, as under Firecracker): udev does not rename it,
 * so a card a trimmed boot configured before udev got to it has the same name as on any other boot.
 */
export function bootArgs(opts: { hostname: string; extra?: string[] }): string {
  return ['console=ttyS0', 'root=/dev/vda', 'rw', 'rootfstype=ext4', 'panic=-1', 'net.ifnames=0', `systemd.hostname=${opts.hostname}`, ...(opts.extra ?? [])].join(' ');
}
