/**
 * The first-boot installer of an image that lacks openssh-server: a oneshot unit that runs the image's
 * install plan (its package manager's commands) once, early in the VM's first boot, through the
 * guest's proxy, logging each step to the console, then starts the sshd it installed (which reads
 * banger's drop-in: the VM's seeded host key and authorized key). It marks itself done, so later boots
 * skip it; a failure leaves no mark, and the next start tries again.
 */
import type { GuestBit } from './guest-bits.js';

export const FIRST_BOOT_SCRIPT_PATH = '/usr/local/libexec/banger-first-boot';
export const FIRST_BOOT_UNIT_NAME = 'banger-first-boot.service';
export const FIRST_BOOT_UNIT_PATH = `/etc/systemd/system/${FIRST_BOOT_UNIT_NAME}`;
export const FIRST_BOOT_DONE = '/var/lib/banger/first-boot.done';
/** Console lines of the installer start with this; the host shows them as progress. */
export const FIRST_BOOT_TAG = 'banger-first-boot:';
/** The line the installer prints when a step failed for good. */
export const FIRST_BOOT_FAILED = `${FIRST_BOOT_TAG} FAILED`;
export const FIRST_BOOT_OK = `${FIRST_BOOT_TAG} done`;

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./=+:@,-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * The script for these commands (argv arrays, run in order; the sequence is tried up to four times). POSIX sh.
 * BANGER_FIRST_BOOT_ROOT prefixes every path it writes or reads and BANGER_FIRST_BOOT_PAUSE sets the
 * seconds between tries, so it can be exercised outside a guest.
 */
export function firstBootScript(commands: readonly (readonly string[])[]): string {
  const steps = commands.map((c) => `  run ${c.map(shellQuote).join(' ')} || return 1`).join('\n');
  return `#!/bin/sh
# banger-first-boot: installs what this image lacks (openssh-server) with its package manager, once.
set -u
ROOT="\${BANGER_FIRST_BOOT_ROOT:-}"
DONE="$ROOT${FIRST_BOOT_DONE}"
PAUSE="\${BANGER_FIRST_BOOT_PAUSE:-5}"
log() { echo "${FIRST_BOOT_TAG} $*"; }

# The guest's proxy (written by banger-seed into /etc/environment) for package managers that read it.
if [ -f "$ROOT/etc/environment" ]; then
  while IFS='=' read -r key value; do
    case "$key" in
      http_proxy|https_proxy|HTTP_PROXY|HTTPS_PROXY|no_proxy|NO_PROXY) export "$key=$value" ;;
    esac
  done < "$ROOT/etc/environment"
fi
export DEBIAN_FRONTEND=noninteractive

# Packages must not start their services while this runs (sshd is started below, once installed).
POLICY="$ROOT/usr/sbin/policy-rc.d"
ownpolicy=''
if [ ! -e "$POLICY" ] && mkdir -p "$(dirname "$POLICY")"; then
  printf '#!/bin/sh\\nexit 101\\n' > "$POLICY" && chmod 0755 "$POLICY" && ownpolicy=1
fi
cleanup() { [ -z "$ownpolicy" ] || rm -f "$POLICY"; }
trap cleanup EXIT

# One command of the plan; a failure is noted in $failed.
run() {
  log "running: $*"
  "$@" && return 0
  rc=$?
  failed="$* exited $rc"
  log "$failed"
  return "$rc"
}

plan() {
${steps || '  :'}
}

# The whole plan is tried again from its start (an index fetched while the network was not up yet
# must be fetched again before the install can find its packages).
failed=''
n=1
log "installing what this image lacks (${commands.length} step${commands.length === 1 ? '' : 's'})"
until plan; do
  if [ "$n" -ge 4 ]; then
    log "FAILED: $failed"
    exit 1
  fi
  log "trying again in $((n * PAUSE))s"
  sleep $((n * PAUSE))
  n=$((n + 1))
done

cleanup
ownpolicy=''
mkdir -p "$(dirname "$DONE")"
date -u +%Y-%m-%dT%H:%M:%SZ > "$DONE"
systemctl daemon-reload || true
for unit in ssh.service sshd.service; do
  if systemctl cat "$unit" >/dev/null 2>&1; then
    systemctl enable "$unit" >/dev/null 2>&1 || true
    systemctl --no-block start "$unit"
    log "starting $unit"
    break
  fi
done
log "done"
exit 0
`;
}

export const FIRST_BOOT_UNIT = `[Unit]
Description=banger first boot: install openssh-server
After=banger-seed.service systemd-networkd.service systemd-networkd-wait-online.service network-online.target
Wants=network-online.target systemd-networkd-wait-online.service
Before=ssh.service sshd.service
ConditionPathExists=!${FIRST_BOOT_DONE}

[Service]
Type=oneshot
RemainAfterExit=yes
TimeoutStartSec=infinity
ExecStart=${FIRST_BOOT_SCRIPT_PATH}
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
`;

/** What an image that needs the installer carries besides the guest bits. */
export function firstBootBits(commands: readonly (readonly string[])[]): GuestBit[] {
  return [
    { type: 'file', path: FIRST_BOOT_SCRIPT_PATH, content: firstBootScript(commands), mode: 0o755 },
    { type: 'file', path: FIRST_BOOT_UNIT_PATH, content: FIRST_BOOT_UNIT, mode: 0o644 },
    { type: 'symlink', path: `/etc/systemd/system/multi-user.target.wants/${FIRST_BOOT_UNIT_NAME}`, target: FIRST_BOOT_UNIT_PATH },
  ];
}
