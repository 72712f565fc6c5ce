/**
 * The vsock guest channel: a systemd socket unit listens on vsock port 52 (Accept=yes, so each
 * connection gets its own instance of a tiny shell service; no extra binary in the guest). One
 * command per connection, one answer:
 *
 *   health -> "ok <uptime seconds>"
 *   ports  -> the listening sockets as `ss -Htlnup` prints them (what `vm ports` reads over SSH otherwise)
 *
 * Anything else gets "error ...". Hosts without a vsock device (QEMU without vhost-vsock) never
 * connect; the unit then stays idle.
 *
 * @module
 */

export const CHANNEL_PORT = 52;
export const CHANNEL_SCRIPT_PATH = '/usr/local/libexec/banger-channel';
export const CHANNEL_SOCKET_NAME = 'banger-channel.socket';
export const CHANNEL_SOCKET_PATH = `/etc/systemd/system/${CHANNEL_SOCKET_NAME}`;
export const CHANNEL_SERVICE_PATH = '/etc/systemd/system/banger-channel@.service';
/** Debian's kernels build the vsock transport as a module. */
export const VSOCK_MODULES_PATH = '/etc/modules-load.d/banger-vsock.conf';
export const VSOCK_MODULES = 'vmw_vsock_virtio_transport\n';

/** POSIX sh; BANGER_PROC (default /proc) lets the script be exercised outside a guest. */
export const CHANNEL_SCRIPT = `#!/bin/sh
# banger-channel: answers one command from the host over vsock (health, ports).
PROC="\${BANGER_PROC:-/proc}"
read -r cmd || exit 0
case "$cmd" in
  health)
    read -r up _ < "$PROC/uptime"
    echo "ok $up"
    ;;
  ports)
    if command -v ss >/dev/null 2>&1; then
      exec ss -Htlnup
    fi
    echo "error ss is not installed (Debian package iproute2)"
    ;;
  *)
    echo "error unknown command"
    ;;
esac
`;

export const CHANNEL_SOCKET_UNIT = `# Written by banger: the host's guest channel over vsock.
[Unit]
Description=banger guest channel (vsock port ${CHANNEL_PORT})
ConditionPathExists=/dev/vsock

[Socket]
ListenStream=vsock::${CHANNEL_PORT}
Accept=yes

[Install]
WantedBy=sockets.target
`;

export const CHANNEL_SERVICE_UNIT = `# Written by banger: one instance per guest-channel connection.
[Unit]
Description=banger guest channel connection

[Service]
ExecStart=${CHANNEL_SCRIPT_PATH}
StandardInput=socket
StandardOutput=socket
StandardError=journal
DynamicUser=no
`;

/** Debian maps ctrl-alt-del to reboot; banger's graceful stop on Firecracker (SendCtrlAltDel) needs poweroff. */
export const CTRL_ALT_DEL_PATH = '/etc/systemd/system/ctrl-alt-del.target';
export const CTRL_ALT_DEL_TARGET = '/lib/systemd/system/poweroff.target';
