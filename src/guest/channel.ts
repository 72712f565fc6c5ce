/**
 * The guest channel. Over vsock (Firecracker) a systemd socket unit listens on vsock port 52 (Accept=yes, so each
 * connection gets its own instance of a tiny shell service; no extra binary in the guest). One
 * command per connection, one answer:
 *
 *   health -> "ok <uptime seconds>"
 *   ports  -> the listening sockets as `ss -Htlnup` prints them (what `vm ports` reads over SSH otherwise)
 *   identity SCRIPT
 *          -> runs banger's identity script (guest/reidentify.ts, escaped as one word by channelWord)
 *             in a subshell and answers with its output: a restored guest takes its own hostname, host
 *             key, entropy and clock before anything reaches it over the network.
 *   settle SECONDS
 *          -> waits, at most SECONDS, until udev's queue is empty, its idle workers have ended (udevd
 *             ends them 3 s after its queue empties) and the CPUs have been idle for a second; answers
 *             "ok settled", or "ok busy" when the time ran out. A snapshot is taken after it, so that
 *             it does not catch boot work half done (udev loading modules, a user manager starting,
 *             a dozen udev workers about to exit), which each of its restored copies would otherwise
 *             finish first.
 *   readdress MAC CIDR GATEWAY [DNS...]
 *          -> gives the NIC a new MAC, replaces its IPv4 address and default route, rewrites the
 *             networkd file the seed wrote (so a reconfiguration keeps the new address) and
 *             resolv.conf; answers "ok readdress <dev> <mac> <cidr>". A VM restored from another's
 *             saved state runs this before anything else reaches it (the host reaches it over
 *             vsock, whatever its address).
 *
 * Anything else gets "error ...". Hosts without a vsock device (QEMU without vhost-vsock) never
 * connect; the unit then stays idle. On QEMU the same script answers over a virtio-serial port
 * (serial-channel.ts).
 *
 * @module
 */

import { NETWORK_FILE } from './seed-script.js';

export const CHANNEL_PORT = 52;
/** settle: how idle the CPUs must be (per cent of all CPUs' time), over how many windows of how long in a row. */
export const SETTLE_IDLE_PERCENT = 80;
export const SETTLE_QUIET_WINDOWS = 2;
export const SETTLE_WINDOW_S = 0.5;
export const CHANNEL_SCRIPT_PATH = '/usr/local/libexec/banger-channel';
export const CHANNEL_SOCKET_NAME = 'banger-channel.socket';
export const CHANNEL_SOCKET_PATH = `/etc/systemd/system/${CHANNEL_SOCKET_NAME}`;
export const CHANNEL_SERVICE_PATH = '/etc/systemd/system/banger-channel@.service';
/** Debian's kernels build the vsock transport as a module. */
export const VSOCK_MODULES_PATH = '/etc/modules-load.d/banger-vsock.conf';
export const VSOCK_MODULES = 'vmw_vsock_virtio_transport\n';

/** The tasks of udevd's service, workers included (cgroup v2, as systemd mounts it). */
export const UDEV_PIDS_PATH = '/sys/fs/cgroup/system.slice/systemd-udevd.service/pids.current';

/**
 * POSIX sh. BANGER_PROC (default /proc), BANGER_UDEV_PIDS, BANGER_NET_IFACE (default: the interface of the default
 * route, else the first en or eth one), BANGER_NETWORK_FILE, BANGER_RESOLV and BANGER_NETWORKCTL let
 * the script be exercised outside a guest.
 */
export const CHANNEL_SCRIPT = `#!/bin/sh
# banger-channel: answers one command from the host (health, ports, readdress, identity).
PROC="\${BANGER_PROC:-/proc}"
UDEV_PIDS="\${BANGER_UDEV_PIDS:-${UDEV_PIDS_PATH}}"
NETFILE="\${BANGER_NETWORK_FILE:-${NETWORK_FILE}}"
RESOLV="\${BANGER_RESOLV:-/etc/resolv.conf}"
NETWORKCTL="\${BANGER_NETWORKCTL:-networkctl}"

ipv4() {
  case "$1" in
    ''|*[!0-9.]*|.*|*.|*..*) return 1 ;;
  esac
  old_ifs=$IFS; IFS=.
  set -- $1
  IFS=$old_ifs
  [ $# -eq 4 ] || return 1
  for o in "$@"; do
    [ "\${#o}" -le 3 ] && [ "$o" -le 255 ] || return 1
  done
}

# The guest's NIC: the default route's interface, else the first en* or eth* one.
nic() {
  if [ -n "\${BANGER_NET_IFACE:-}" ]; then echo "$BANGER_NET_IFACE"; return; fi
  set -- $(ip -4 route show default 2>/dev/null)
  while [ $# -gt 1 ]; do
    if [ "$1" = dev ]; then echo "$2"; return; fi
    shift
  done
  for d in /sys/class/net/en* /sys/class/net/eth*; do
    [ -e "$d" ] && { echo "\${d##*/}"; return; }
  done
}

readdress() {
  [ $# -ge 3 ] || { echo "error usage: readdress MAC CIDR GATEWAY [DNS...]"; return; }
  mac=$1 cidr=$2 gw=$3
  shift 3
  case "$mac" in
    [0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]) ;;
    *) echo "error invalid MAC '$mac'"; return ;;
  esac
  addr=\${cidr%/*} prefix=\${cidr#*/}
  ipv4 "$addr" || { echo "error invalid address '$cidr'"; return; }
  case "$prefix" in
    ''|*[!0-9]*) echo "error invalid prefix '$cidr'"; return ;;
  esac
  { [ "$prefix" -ge 1 ] && [ "$prefix" -le 32 ]; } || { echo "error invalid prefix '$cidr'"; return; }
  ipv4 "$gw" || { echo "error invalid gateway '$gw'"; return; }
  for ns in "$@"; do ipv4 "$ns" || { echo "error invalid nameserver '$ns'"; return; }; done
  dev=$(nic)
  [ -n "$dev" ] || { echo "error no network interface found"; return; }
  # A live MAC change where the driver allows it, else with the link briefly down.
  if ! ip link set dev "$dev" address "$mac" 2>/dev/null; then
    ip link set dev "$dev" down && ip link set dev "$dev" address "$mac" && ip link set dev "$dev" up || { echo "error could not set the MAC of $dev"; return; }
  fi
  if [ -f "$NETFILE" ]; then
    {
      printf '[Match]\\nName=en* eth*\\n\\n[Network]\\nLinkLocalAddressing=no\\nIPv6AcceptRA=no\\n'
      printf 'Address=%s\\nGateway=%s\\n' "$cidr" "$gw"
      for ns in "$@"; do printf 'DNS=%s\\n' "$ns"; done
    } > "$NETFILE.banger-new" && chmod 0644 "$NETFILE.banger-new" && mv -f "$NETFILE.banger-new" "$NETFILE"
  fi
  ip -4 addr flush dev "$dev" &&
    ip addr add "$cidr" dev "$dev" &&
    ip link set dev "$dev" up &&
    ip -4 route replace default via "$gw" dev "$dev" || { echo "error could not set the address of $dev"; return; }
  if [ $# -gt 0 ]; then
    for ns in "$@"; do echo "nameserver $ns"; done > "$RESOLV.banger-new" && chmod 0644 "$RESOLV.banger-new" && mv -f "$RESOLV.banger-new" "$RESOLV"
  fi
  # networkd re-reads the file, so a later link event keeps the new address.
  if [ -f "$NETFILE" ] && command -v "$NETWORKCTL" >/dev/null 2>&1; then "$NETWORKCTL" reload >/dev/null 2>&1 || true; fi
  echo "ok readdress $dev $(cat "/sys/class/net/$dev/address" 2>/dev/null || echo "$mac") $cidr"
}

settle() {
  limit=\${1:-}
  case "$limit" in
    ''|*[!0-9]*) echo "error usage: settle SECONDS"; return ;;
  esac
  udevadm settle --timeout="$limit" >/dev/null 2>&1 || :
  # /proc/stat's first line: jiffies of all CPUs. Quiet: at least ${SETTLE_IDLE_PERCENT}% idle over ${SETTLE_QUIET_WINDOWS} windows of ${SETTLE_WINDOW_S} s in a row,
  # with udevd alone in its service (no worker left to exit; no such file: nothing known to wait for).
  quiet=0 n=0 last_total='' last_spare=''
  while [ "$n" -le $((limit * ${Math.round(1 / SETTLE_WINDOW_S)})) ]; do
    read -r _cpu user nice system idle iowait irq softirq steal _rest < "$PROC/stat"
    total=$((user + nice + system + idle + iowait + irq + softirq + steal))
    spare=$((idle + iowait))
    if [ -n "$last_total" ] && [ "$total" -gt "$last_total" ]; then
      tasks=1
      read -r tasks < "$UDEV_PIDS" 2>/dev/null || tasks=1
      if [ $(((spare - last_spare) * 100 / (total - last_total))) -ge ${SETTLE_IDLE_PERCENT} ] && [ "$tasks" -le 1 ]; then quiet=$((quiet + 1)); else quiet=0; fi
      if [ "$quiet" -ge ${SETTLE_QUIET_WINDOWS} ]; then echo "ok settled"; return; fi
    fi
    last_total=$total last_spare=$spare
    sleep ${SETTLE_WINDOW_S}
    n=$((n + 1))
  done
  echo "ok busy"
}

read -r cmd args || [ -n "$cmd" ] || exit 0
case "$cmd" in
  readdress)
    set -f
    readdress $args
    ;;
  identity)
    case "$args" in
      ''|*[!A-Za-z0-9_./:=@+\\\\-]*) echo "error identity needs one escaped argument" ;;
      *) script=$(printf '%b' "$args"); (eval "$script") 2>&1 ;;
    esac
    ;;
  health)
    read -r up _ < "$PROC/uptime"
    echo "ok $up"
    ;;
  settle)
    set -f
    settle $args
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
