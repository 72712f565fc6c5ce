/** The early-boot unit and script that apply a VM's seed disk inside the guest. */
import { GUEST_NO_PROXY, GUEST_NO_PROXY_KEYS, GUEST_PROXY_KEYS } from '../model/guest-proxy.js';

export const SEED_LABEL = 'BANGERSEED';
/** The serial banger gives the seed disk's virtio device. */
export const SEED_SERIAL = 'seed';
export const SEED_SCRIPT_PATH = '/usr/local/libexec/banger-seed';
export const SEED_UNIT_NAME = 'banger-seed.service';
export const SEED_UNIT_PATH = `/etc/systemd/system/${SEED_UNIT_NAME}`;
export const NETWORK_FILE = '/run/systemd/network/10-banger.network';
export const SEED_KEYS_UNIT_NAME = 'banger-seed-keys.service';
/** Where a trimmed boot's seed leaves the authorized keys until the work disk holding /root is mounted. */
export const SEED_KEYS_DIR = '/run/banger-seed-keys';
/** The newest seed format the script understands. */
export const SEED_FORMAT_VERSION = 1;

/**
 * POSIX sh. BANGER_SEED_DIR (an already unpacked seed) and BANGER_SEED_ROOT (a prefix for every path
 * written) exist so the script can be exercised outside a guest; with a prefix it leaves the kernel
 * hostname alone. With BANGER_SEED_KEYS=later (a trimmed boot, where the seed runs before the work disk
 * holding /root is mounted) the authorized keys are left in SEED_KEYS_DIR, and `banger-seed keys`
 * puts them in /root/.ssh once it is mounted. With BANGER_SEED_NET=now (a trimmed boot too) a static
 * address goes on the network card at once, with one `ip -batch`, rather than when networkd gets the
 * card from udev.
 */
export const SEED_SCRIPT = `#!/bin/sh
# banger-seed: applies this VM's seed disk (hostname, SSH keys, network, DNS, proxy) early in boot.
set -eu

ROOT="\${BANGER_SEED_ROOT:-}"
SEED="\${BANGER_SEED_DIR:-}"
LABEL=${SEED_LABEL}
MNT=/run/banger-seed
NETFILE="$ROOT${NETWORK_FILE}"
KEYS="$ROOT${SEED_KEYS_DIR}"

log() { echo "banger-seed: $*" >&2; }

# Shell builtins rather than tools wherever they do the same: under TCG every program started costs a
# sizeable share of a second, and the seed is on the way to sshd. Files are written in place: every boot
# writes them again from the seed before anything reads them.

# copy <text file> <destination> <umask>: root-owned (the seed runs as root); a symlink at the
# destination is replaced, not followed.
copy() {
  [ ! -L "$2" ] || rm -f "$2"
  umask "$3"
  while IFS= read -r line || [ -n "$line" ]; do
    printf '%s\n' "$line"
  done < "$1" > "$2"
  umask 022
}

# install_keys <file>: root's authorized_keys.
install_keys() {
  [ -d "$ROOT/root/.ssh" ] || mkdir -p -m 0700 "$ROOT/root/.ssh"
  copy "$1" "$ROOT/root/.ssh/authorized_keys" 077
}

if [ "\${1:-}" = keys ]; then
  if [ -f "$KEYS/authorized_keys" ]; then
    install_keys "$KEYS/authorized_keys"
    log "installed the authorized keys"
  fi
  exit 0
fi

# The seed disk: the virtio disk banger gave the serial "${SEED_SERIAL}", else udev's by-label link, else
# every virtio disk probed directly, so the seed does not wait for udev to get through its queue.
find_seed() {
  i=0
  while [ "$i" -lt 400 ]; do
    for sys in /sys/block/vd*; do
      serial=''
      read -r serial 2>/dev/null < "$sys/serial" || true
      if [ "$serial" = ${SEED_SERIAL} ] && [ -b "/dev/\${sys##*/}" ]; then
        echo "/dev/\${sys##*/}"
        return 0
      fi
    done
    if [ -b "/dev/disk/by-label/$LABEL" ]; then
      echo "/dev/disk/by-label/$LABEL"
      return 0
    fi
    for dev in /dev/vd? /dev/vd??; do
      [ -b "$dev" ] || continue
      if [ "$(blkid -p -o value -s LABEL "$dev" 2>/dev/null || true)" = "$LABEL" ]; then
        echo "$dev"
        return 0
      fi
    done
    i=$((i + 1))
    sleep 0.05
  done
  return 1
}

# put <seed file> <destination> <umask>
put() {
  dest="$ROOT$2"
  [ -d "\${dest%/*}" ] || mkdir -p "\${dest%/*}"
  copy "$SEED/$1" "$dest" "$3"
}

valid_ipv4() {
  case "$1" in
    ''|*[!0-9.]*|.*|*.|*..*) return 1 ;;
  esac
  rest=$1 dots=0
  while :; do
    case "$rest" in
      *.*) rest=\${rest#*.}; dots=$((dots + 1)) ;;
      *) break ;;
    esac
  done
  [ "$dots" -eq 3 ]
}

if [ -z "$SEED" ]; then
  dev=$(find_seed) || { log "no disk labelled $LABEL appeared; nothing applied"; exit 1; }
  mkdir -p "$MNT"
  mount -t ext4 -o ro,nodev,nosuid,noexec "$dev" "$MNT"
  trap 'umount "$MNT" 2>/dev/null || true' EXIT
  SEED=$MNT
fi

version=0
[ ! -f "$SEED/version" ] || read -r version < "$SEED/version" || true
case "$version" in
  ''|*[!0-9]*) log "seed version '$version' is not a number"; exit 1 ;;
esac
if [ "$version" -gt ${SEED_FORMAT_VERSION} ]; then
  log "seed format $version is newer than this image understands (${SEED_FORMAT_VERSION}); applying what it can"
fi

if [ -f "$SEED/hostname" ]; then
  name=''
  read -r name < "$SEED/hostname" || true
  case "$name" in
    ''|-*|*-|*[!a-z0-9-]*) log "ignoring invalid hostname '$name'" ;;
    *)
      put hostname /etc/hostname 022
      if [ -z "$ROOT" ]; then
        { echo "$name" > /proc/sys/kernel/hostname; } 2>/dev/null || log "could not set the hostname to $name"
      fi
      ;;
  esac
fi

if [ -f "$SEED/hosts" ]; then
  put hosts /etc/hosts 022
fi

if [ -f "$SEED/authorized_keys" ]; then
  if [ "\${BANGER_SEED_KEYS:-}" = later ]; then
    [ -d "$KEYS" ] || mkdir -p -m 0700 "$KEYS"
    copy "$SEED/authorized_keys" "$KEYS/authorized_keys" 077
  else
    install_keys "$SEED/authorized_keys"
  fi
fi

if [ -f "$SEED/ssh_host_ed25519_key" ] && [ -f "$SEED/ssh_host_ed25519_key.pub" ]; then
  put ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key 077
  put ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ed25519_key.pub 022
fi

if [ -f "$SEED/network.conf" ]; then
  MODE=dhcp ADDRESS='' PREFIX='' GATEWAY=''
  while IFS='=' read -r key value; do
    case "$key" in
      MODE) MODE=$value ;;
      ADDRESS) ADDRESS=$value ;;
      PREFIX) PREFIX=$value ;;
      GATEWAY) GATEWAY=$value ;;
    esac
  done < "$SEED/network.conf"
  [ -d "\${NETFILE%/*}" ] || mkdir -p "\${NETFILE%/*}"
  {
    printf '[Match]\\nName=en* eth*\\n\\n[Network]\\nLinkLocalAddressing=no\\nIPv6AcceptRA=no\\n'
    case "$MODE" in
      static)
        valid_ipv4 "$ADDRESS" || { log "invalid ADDRESS '$ADDRESS'"; exit 1; }
        valid_ipv4 "$GATEWAY" || { log "invalid GATEWAY '$GATEWAY'"; exit 1; }
        case "$PREFIX" in
          ''|*[!0-9]*) log "invalid PREFIX '$PREFIX'"; exit 1 ;;
        esac
        printf 'Address=%s/%s\\nGateway=%s\\n' "$ADDRESS" "$PREFIX" "$GATEWAY"
        if [ -f "$SEED/resolv.conf" ]; then
          while read -r word addr _rest; do
            if [ "$word" = nameserver ] && [ -n "$addr" ]; then
              printf 'DNS=%s\\n' "$addr"
            fi
          done < "$SEED/resolv.conf"
        fi
        ;;
      dhcp) printf 'DHCP=ipv4\\n' ;;
      *) log "unknown network MODE '$MODE'"; exit 1 ;;
    esac
  } > "$NETFILE"
  # A trimmed boot puts a static address on the network card at once: networkd configures a card only
  # once udev has got to it, seconds later under TCG, and it keeps an address its file asks for.
  if [ "\${BANGER_SEED_NET:-}" = now ] && [ "$MODE" = static ]; then
    card=''
    for sys in /sys/class/net/*; do
      case "\${sys##*/}" in
        en*|eth*) card=\${sys##*/}; break ;;
      esac
    done
    if [ -z "$card" ]; then
      log "no network card yet; its address is left to systemd-networkd"
    elif ! ip -batch - <<EOF
link set dev $card up
address replace $ADDRESS/$PREFIX dev $card
route replace default via $GATEWAY dev $card proto static
EOF
    then
      log "could not configure $card; its address is left to systemd-networkd"
    fi
  fi
fi

if [ -f "$SEED/resolv.conf" ]; then
  put resolv.conf /etc/resolv.conf 022
fi

# The guest's proxy: a marked block in /etc/environment (read by PAM for every login and ssh
# session) and apt's setting; both go when the seed has none.
ENVFILE="$ROOT/etc/environment"
APTPROXY="$ROOT/etc/apt/apt.conf.d/80banger-proxy"
proxy=''
if [ -f "$SEED/proxy" ]; then
  read -r proxy < "$SEED/proxy" || true
  case "$proxy" in
    http://*:*) addr=\${proxy#http://}; addr=\${addr%:*}; port=\${proxy##*:}
      case "$port" in ''|*[!0-9]*) port='' ;; esac
      if ! valid_ipv4 "$addr" || [ -z "$port" ]; then log "ignoring invalid proxy '$proxy'"; proxy=''; fi ;;
    *) log "ignoring invalid proxy '$proxy'"; proxy='' ;;
  esac
fi
if [ -f "$ENVFILE" ] || [ -n "$proxy" ]; then
  [ -d "\${ENVFILE%/*}" ] || mkdir -p "\${ENVFILE%/*}"
  kept='' block=''
  if [ -f "$ENVFILE" ]; then
    while IFS= read -r line || [ -n "$line" ]; do
      case "$line" in
        '# >>> banger proxy'*) block=1; continue ;;
        '# <<< banger proxy'*) block=''; continue ;;
      esac
      [ -n "$block" ] || kept="$kept$line
"
    done < "$ENVFILE"
  fi
  {
    printf '%s' "$kept"
    if [ -n "$proxy" ]; then
      echo '# >>> banger proxy (written at every boot from the VM seed)'
      for k in ${GUEST_PROXY_KEYS.join(' ')}; do echo "$k=$proxy"; done
      for k in ${GUEST_NO_PROXY_KEYS.join(' ')}; do echo "$k=${GUEST_NO_PROXY}"; done
      echo '# <<< banger proxy'
    fi
  } > "$ENVFILE"
fi
if [ -n "$proxy" ]; then
  [ -d "\${APTPROXY%/*}" ] || mkdir -p "\${APTPROXY%/*}"
  printf 'Acquire::http::Proxy "%s/";\nAcquire::https::Proxy "%s/";\n' "$proxy" "$proxy" > "$APTPROXY"
elif [ -e "$APTPROXY" ]; then
  rm -f "$APTPROXY"
fi

log "applied seed (format $version)"
exit 0
`;

function seedUnit(opts: { keysLater: boolean }): string {
  return `[Unit]
Description=Apply banger per-VM configuration
Documentation=man:systemd.service(5)
DefaultDependencies=no
${opts.keysLater ? '' : 'RequiresMountsFor=/root\n'}After=systemd-remount-fs.service
Before=network-pre.target systemd-networkd.service ssh.service shutdown.target
Wants=network-pre.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
${opts.keysLater ? 'Environment=BANGER_SEED_KEYS=later BANGER_SEED_NET=now\n' : ''}ExecStart=${SEED_SCRIPT_PATH}
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=sysinit.target
`;
}

/** The seed unit every image carries: it applies the whole seed once /root (the work disk) is mounted. */
export const SEED_UNIT = seedUnit({ keysLater: false });

/**
 * A trimmed boot's seed unit (boot-trim.ts writes it over SEED_UNIT): it does not wait for the work disk,
 * so hostname, host key and network are in place early; the authorized keys wait in SEED_KEYS_DIR.
 */
export const TRIMMED_SEED_UNIT = seedUnit({ keysLater: true });

/** A trimmed boot's second seed step: the authorized keys into /root/.ssh once the work disk is mounted. */
export const SEED_KEYS_UNIT = `[Unit]
Description=Install banger's authorized keys for root
DefaultDependencies=no
RequiresMountsFor=/root
After=${SEED_UNIT_NAME}
Before=ssh.service shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${SEED_SCRIPT_PATH} keys
StandardOutput=journal+console
StandardError=journal+console
`;
