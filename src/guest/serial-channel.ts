/**
 * The guest channel over a virtio-serial port (QEMU, drivers/qemu/channel.ts): a udev rule starts one
 * long-lived service when the port appears; it reads `<id> <command>` lines from the port, runs each
 * command through the channel script (channel.ts) and writes the answer, then `banger-channel-end <id>`.
 *
 * While no host client is connected a read of the port returns at once with nothing, so the loop then
 * waits 50 ms on a FIFO nobody writes (bash's own read, no process started) before trying again. The
 * daemon keeps a connection open while the VM runs, so the loop polls only while the daemon is down.
 *
 * @module
 */
import { CHANNEL_SCRIPT_PATH } from './channel.js';

export const SERIAL_PORT_NAME = 'org.banger.channel';
export const SERIAL_CHANNEL_SCRIPT_PATH = '/usr/local/libexec/banger-serial-channel';
export const SERIAL_CHANNEL_UNIT_NAME = 'banger-serial-channel.service';
export const SERIAL_CHANNEL_UNIT_PATH = `/etc/systemd/system/${SERIAL_CHANNEL_UNIT_NAME}`;
export const SERIAL_CHANNEL_RULE_PATH = '/etc/udev/rules.d/60-banger-channel.rules';

/** BANGER_SERIAL_PORT, BANGER_CHANNEL and BANGER_IDLE_FIFO let the loop be exercised outside a guest. */
export const SERIAL_CHANNEL_SCRIPT = `#!/bin/bash
# banger-serial-channel: the guest channel on the virtio-serial port ${SERIAL_PORT_NAME}.
port="\${BANGER_SERIAL_PORT:-/dev/virtio-ports/${SERIAL_PORT_NAME}}"
channel="\${BANGER_CHANNEL:-${CHANNEL_SCRIPT_PATH}}"
idle="\${BANGER_IDLE_FIFO:-/run/banger-serial-channel.idle}"
[ -p "$idle" ] || { rm -f "$idle" && mkfifo -m 600 "$idle"; } || exit 1
exec 4<>"$idle" || exit 1
exec 3<>"$port" || exit 1
while :; do
  if IFS= read -r line <&3; then
    id=\${line%% *}
    case "$id" in
      ''|*[!0-9a-f]*) continue ;;
    esac
    cmd=\${line#"$id"}
    cmd=\${cmd# }
    case "$cmd" in
      'identity '*)
        # In this shell (a subshell, no program started): the restore waits for it.
        arg=\${cmd#identity }
        case "$arg" in
          ''|*[!A-Za-z0-9_./:=@+\\\\-]*) echo "error identity needs one escaped argument" ;;
          *) printf -v script '%b' "$arg"; ( eval "$script" ) 2>&1 ;;
        esac >&3
        ;;
      *) printf '%s\\n' "$cmd" | "$channel" >&3 2>/dev/null ;;
    esac
    printf 'banger-channel-end %s\\n' "$id" >&3
  else
    read -r -t 0.05 -u 4 _ || :
  fi
done
`;

export const SERIAL_CHANNEL_UNIT = `# Written by banger: the host's guest channel over virtio-serial (started by udev when the port appears).
[Unit]
Description=banger guest channel (virtio-serial ${SERIAL_PORT_NAME})

[Service]
ExecStart=${SERIAL_CHANNEL_SCRIPT_PATH}
Restart=always
RestartSec=1
`;

export const SERIAL_CHANNEL_RULE = `# Written by banger: start the guest channel when its virtio-serial port appears.
SUBSYSTEM=="virtio-ports", ATTR{name}=="${SERIAL_PORT_NAME}", TAG+="systemd", ENV{SYSTEMD_WANTS}+="${SERIAL_CHANNEL_UNIT_NAME}"
`;
