/**
 * The shell scripts that run guest sessions, run in the guest over SSH. A session lives in
 * ~/.cache/banger/sessions/NAME: `run` (the runner below), `stdin` (a FIFO the command reads),
 * `output` (its stdout and stderr), `pid` (the command's), `runner.pid`, `boot_id` (the guest boot
 * it started in), `env` (its environment, one NAME=VALUE a line), `tty` (its terminal's device, when it
 * has one) and, once it ended, `status` ("CODE EPOCH"). The guest's files are the source of truth.
 *
 * Under systemd (the guest's PID 1) a session is a transient unit `banger-session-NAME`; without it
 * (a container-like guest) the runner is detached with setsid and an empty environment. Either way
 * nothing ties it to the ssh connection that started it, nor to the daemon, and its environment is
 * only `env`.
 *
 * @module
 */
import { GUEST_SESSIONS_DIR } from '../../model/session.js';

const BASE = `base="$HOME/${GUEST_SESSIONS_DIR}"`;

/**
 * The runner: $1 the session directory, $2 the working directory ('' for the home directory), $3 ''
 * for pipes or `ROWS COLS TERM` for a terminal, then the command (for a terminal: one shell command
 * line). It takes its environment from `env` in the session directory, holds the FIFO open read-write
 * (so the command never reads end-of-file between two `send`s), runs the command in the foreground
 * (signals reach it as in a shell; SIGTERM to the runner itself, e.g. at guest shutdown, does not stop
 * it before it writes the status), and writes the status.
 *
 * With a terminal, util-linux `script` gives the command a pseudo-terminal: the FIFO's bytes are typed
 * on it (so Ctrl-C is SIGINT from its line discipline), what it shows goes to `output`, and `tty` names
 * it so that its size can be set from outside.
 */
export const RUNNER = `d=$1; cwd=$2; tty=$3; shift 3
trap ':' TERM HUP INT
while IFS= read -r kv; do export "$kv"; done < "$d/env"
exec 3<>"$d/stdin"
echo $$ > "$d/runner.pid"
finish() { printf '%s %s\\n' "$1" "$(date +%s)" > "$d/status.tmp" && mv -f "$d/status.tmp" "$d/status"; exit 0; }
if [ -n "$cwd" ]; then
  cd -- "$cwd" 2>>"$d/output" || { echo "banger: cannot enter $cwd" >>"$d/output"; : > "$d/pid"; finish 126; }
else
  cd
fi
if [ -n "$tty" ]; then
  set -- $tty "$1"
  inner="stty rows $1 cols $2 2>/dev/null; "'d=$BANGER_SESSION_DIR; unset BANGER_SESSION_DIR; tty > "$d/tty"; echo $$ > "$d/pid"; exec '"$4"
  BANGER_SESSION_DIR=$d TERM=$3 script -qefc "$inner" /dev/null <"$d/stdin" >>"$d/output" 2>&1 3>&-
else
  sh -c 'echo $$ > "$0/pid"; exec "$@"' "$d" "$@" <"$d/stdin" >>"$d/output" 2>&1 3>&-
fi
finish $?
`;

/** Exit status of START when a session of that name still runs in the guest. */
export const START_RUNNING = 17;
/** Exit status of START when a terminal was asked for and the guest has no `script`. */
export const START_NO_SCRIPT = 18;

/** The proxy settings a session carries (the guest's /etc/environment has them in user mode). */
export const SESSION_PROXY_VARS = ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY', 'all_proxy', 'ALL_PROXY'] as const;

/**
 * $1 name, $2 cwd, $3 the runner's text, $4 the terminal ('' or `ROWS COLS TERM`), then the command.
 * Prints `unit NAME` or `unit -`, once the command's pid is known (so a status read right after sees
 * it running). The session's environment (`env`) is the one a command over ssh has: HOME, USER, PATH,
 * SHELL, LANG and the proxy settings (read from /etc/environment when ssh's environment lacks them).
 */
export const START = `set -e
n=$1; cwd=$2; runner=$3; tty=$4; shift 4
${BASE}; d="$base/$n"
if [ -d "$d" ] && [ ! -f "$d/status" ] && kill -0 "$(cat "$d/runner.pid" 2>/dev/null)" 2>/dev/null; then
  echo "a session named $n still runs in the guest" >&2; exit ${START_RUNNING}
fi
if [ -n "$tty" ] && ! command -v script >/dev/null 2>&1; then
  echo "the guest has no script (util-linux), which gives a session its terminal" >&2; exit ${START_NO_SCRIPT}
fi
umask 077
mkdir -p -- "$base"
rm -rf -- "$d"; mkdir -- "$d"
mkfifo "$d/stdin"; : > "$d/output"
cat /proc/sys/kernel/random/boot_id > "$d/boot_id"
printf '%s' "$runner" > "$d/run"
shell=$(getent passwd "$(id -un)" 2>/dev/null | cut -d: -f7) || shell=''
{
  printf 'HOME=%s\\nUSER=%s\\nPATH=%s\\nSHELL=%s\\nLANG=%s\\n' "$HOME" "$(id -un)" "$PATH" "\${shell:-/bin/sh}" "\${LANG:-C.UTF-8}"
  for k in ${SESSION_PROXY_VARS.join(' ')}; do
    v=$(printenv "$k") || v=$(sed -n "s/^$k=//p" /etc/environment 2>/dev/null | tail -n 1)
    case "$v" in \\"*\\") v=\${v#\\"}; v=\${v%\\"} ;; esac
    [ -z "$v" ] || printf '%s=%s\\n' "$k" "$v"
  done
} > "$d/env"
if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then
  systemd-run --quiet --collect --unit="banger-session-$n" --setenv=HOME="$HOME" --setenv=PATH="$PATH" -- /bin/sh "$d/run" "$d" "$cwd" "$tty" "$@"
  unit="banger-session-$n"
else
  setsid -f env -i HOME="$HOME" PATH="$PATH" /bin/sh "$d/run" "$d" "$cwd" "$tty" "$@" </dev/null >/dev/null 2>&1
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
