/**
 * The shell scripts that run guest sessions, run in the guest over SSH. A session lives in
 * ~/.cache/banger/sessions/NAME: `run` (the runner below), `stdin` (a FIFO the command reads),
 * `output` (its stdout and stderr), `pid` (the command's), `runner.pid`, `boot_id` (the guest boot
 * it started in) and, once it ended, `status` ("CODE EPOCH"). The guest's files are the source of truth.
 *
 * Under systemd (the guest's PID 1) a session is a transient unit `banger-session-NAME`; without it
 * (a container-like guest) the runner is detached with setsid. Either way nothing ties it to the ssh
 * connection that started it, nor to the daemon.
 *
 * @module
 */
import { GUEST_SESSIONS_DIR } from '../../model/session.js';

const BASE = `base="$HOME/${GUEST_SESSIONS_DIR}"`;

/**
 * The runner: $1 the session directory, $2 the working directory ('' for the home directory), then the
 * command. It holds the FIFO open read-write (so the command never reads end-of-file between two
 * `send`s), runs the command in the foreground (signals reach it as in a shell; SIGTERM to the runner
 * itself, e.g. at guest shutdown, does not stop it before it writes the status), and writes the status.
 */
export const RUNNER = `d=$1; cwd=$2; shift 2
trap ':' TERM HUP INT
exec 3<>"$d/stdin"
echo $$ > "$d/runner.pid"
finish() { printf '%s %s\\n' "$1" "$(date +%s)" > "$d/status.tmp" && mv -f "$d/status.tmp" "$d/status"; exit 0; }
if [ -n "$cwd" ]; then
  cd -- "$cwd" 2>>"$d/output" || { echo "banger: cannot enter $cwd" >>"$d/output"; : > "$d/pid"; finish 126; }
else
  cd
fi
sh -c 'echo $$ > "$0/pid"; exec "$@"' "$d" "$@" <"$d/stdin" >>"$d/output" 2>&1 3>&-
finish $?
`;

/** Exit status of START when a session of that name still runs in the guest. */
export const START_RUNNING = 17;

/**
 * $1 name, $2 cwd, $3 the runner's text, then the command. Prints `unit NAME` or `unit -`, once the
 * command's pid is known (so a status read right after sees it running).
 */
export const START = `set -e
n=$1; cwd=$2; runner=$3; shift 3
${BASE}; d="$base/$n"
if [ -d "$d" ] && [ ! -f "$d/status" ] && kill -0 "$(cat "$d/runner.pid" 2>/dev/null)" 2>/dev/null; then
  echo "a session named $n still runs in the guest" >&2; exit ${START_RUNNING}
fi
umask 077
mkdir -p -- "$base"
rm -rf -- "$d"; mkdir -- "$d"
mkfifo "$d/stdin"; : > "$d/output"
cat /proc/sys/kernel/random/boot_id > "$d/boot_id"
printf '%s' "$runner" > "$d/run"
if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then
  systemd-run --quiet --collect --unit="banger-session-$n" --setenv=HOME="$HOME" --setenv=USER="$(id -un)" --setenv=PATH="$PATH" --setenv=LANG=C.UTF-8 -- /bin/sh "$d/run" "$d" "$cwd" "$@"
  unit="banger-session-$n"
else
  setsid -f /bin/sh "$d/run" "$d" "$cwd" "$@" </dev/null >/dev/null 2>&1
  unit=-
fi
i=0
while [ ! -s "$d/pid" ] && [ ! -f "$d/status" ]; do
  i=$((i+1)); [ $i -le 200 ] || { echo "the session did not start within 10 s" >&2; exit 1; }
  sleep 0.05
done
echo "unit $unit"
`;

/**
 * $1: one name, or nothing for every session. One line each: `NAME exited CODE EPOCH`, `NAME running`
 * or `NAME lost EPOCH` (ended without a status: the guest rebooted, or the runner was killed).
 */
export const STATUS = `${BASE}
boot=$(cat /proc/sys/kernel/random/boot_id)
for d in "$base"/\${1:-*}; do
  [ -d "$d" ] || continue
  n=\${d##*/}
  if [ -f "$d/status" ]; then echo "$n exited $(cat "$d/status")"
  elif [ "$(cat "$d/boot_id" 2>/dev/null)" = "$boot" ] && kill -0 "$(cat "$d/runner.pid" 2>/dev/null)" 2>/dev/null; then echo "$n running"
  else echo "$n lost $(stat -c %Y "$d/output" 2>/dev/null || date +%s)"
  fi
done
`;

/**
 * $1 name, $2 first signal, $3 seconds to wait for the end (0: do not wait), $4 a signal to send when
 * it has not ended by then ('' for none), waiting 5 s more. Ends like STATUS for that name.
 */
export const SIGNAL = `${BASE}; d="$base/$1"
if [ ! -f "$d/status" ]; then
  pid=$(cat "$d/pid" 2>/dev/null)
  [ -z "$pid" ] || kill -s "$2" "$pid" 2>/dev/null || true
  waitend() { i=0; while [ ! -f "$d/status" ] && [ $i -lt $(($1*10)) ]; do sleep 0.1; i=$((i+1)); done; }
  waitend "$3"
  if [ ! -f "$d/status" ] && [ -n "$4" ] && [ -n "$pid" ]; then kill -s "$4" "$pid" 2>/dev/null || true; waitend 5; fi
fi
shift $#; set -- "\${d##*/}"
`;

/** $1 name: removes the session's files. */
export const REMOVE = `${BASE}; rm -rf -- "$base/$1"`;
