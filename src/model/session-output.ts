/**
 * Reading a guest session's output and writing to its stdin: shell scripts run in the guest over SSH,
 * by the daemon (the HTTP routes) and by the SDK alike. A session's files live in
 * ~/.cache/banger/sessions/NAME (see the daemon's session scripts for all of them).
 *
 * @module
 */
import { GUEST_SESSIONS_DIR } from './session.js';

/** Exit status of the scripts below when the session has no files in the guest. */
export const SESSION_NO_FILES = 3;

/** Exit status of SESSION_SEND when the session has ended. */
export const SESSION_ENDED = 4;

const DIR = `d="$HOME/${GUEST_SESSIONS_DIR}/$1"; [ -d "$d" ] || { echo "session $1 has no files in the guest" >&2; exit ${SESSION_NO_FILES}; }`;

/**
 * $1 name, $2 1 to follow (what it writes until the session ends), $3 the byte offset to start at
 * ('' for 0), $4 only the last this many bytes ('' for no limit; it wins over $3), $5 1 to print the
 * offset it starts at on a line of its own before the output.
 */
export const SESSION_OUTPUT = `${DIR}
size=$(stat -c %s "$d/output") || exit 1
start=\${3:-0}
if [ -n "$4" ]; then start=$((size > $4 ? size - $4 : 0)); fi
[ "$5" != 1 ] || echo "$start"
if [ "$2" = 1 ] && [ ! -f "$d/status" ] && [ "$(cat "$d/boot_id" 2>/dev/null)" = "$(cat /proc/sys/kernel/random/boot_id)" ] && [ -s "$d/runner.pid" ]; then
  exec tail -c +$((start + 1)) -f --pid="$(cat "$d/runner.pid")" "$d/output"
fi
exec tail -c +$((start + 1)) "$d/output"`;

/** $1 name: stdin into the session's FIFO (held open read-write, so this never blocks on a missing reader). */
export const SESSION_SEND = `${DIR}
[ ! -f "$d/status" ] || { echo "session $1 has ended" >&2; exit ${SESSION_ENDED}; }
exec 3<>"$d/stdin"
cat >&3`;

/** Exit status of SESSION_RESIZE when the session has no terminal. */
export const SESSION_NO_TTY = 5;

/**
 * $1 name, $2 rows, $3 columns, $4 1 to make its program redraw even when the size is the same: sets
 * the size of the session's terminal (the kernel sends SIGWINCH to its foreground process group when
 * the size changes; the redraw sends it anyway).
 */
export const SESSION_RESIZE = `${DIR}
[ ! -f "$d/status" ] || { echo "session $1 has ended" >&2; exit ${SESSION_ENDED}; }
[ -s "$d/tty" ] || { echo "session $1 has no terminal" >&2; exit ${SESSION_NO_TTY}; }
stty -F "$(cat "$d/tty")" rows "$2" cols "$3"
if [ "$4" = 1 ]; then
  fg=$(sed 's/.*) //' "/proc/$(cat "$d/pid")/stat" 2>/dev/null | cut -d' ' -f6)
  [ -z "$fg" ] || [ "$fg" -le 0 ] || kill -s WINCH -- "-$fg" 2>/dev/null || true
fi`;

export interface OutputArgs {
  follow?: boolean;
  offset?: number;
  tail?: number;
  /** Print the starting offset first. */
  printOffset?: boolean;
}

/** The guest argv that reads session `name`'s output. Pure. */
export function sessionOutputArgv(name: string, a: OutputArgs = {}): string[] {
  return ['sh', '-c', SESSION_OUTPUT, 'sh', name, a.follow ? '1' : '0', a.offset !== undefined ? String(a.offset) : '', a.tail !== undefined ? String(a.tail) : '', a.printOffset ? '1' : '0'];
}

/** The guest argv that writes its stdin to session `name`'s stdin. Pure. */
export function sessionSendArgv(name: string): string[] {
  return ['sh', '-c', SESSION_SEND, 'sh', name];
}

/** The guest argv that sets session `name`'s terminal size (and with `redraw`, signals it anyway). Pure. */
export function sessionResizeArgv(name: string, size: { rows: number; cols: number }, redraw = false): string[] {
  return ['sh', '-c', SESSION_RESIZE, 'sh', name, String(size.rows), String(size.cols), redraw ? '1' : '0'];
}
