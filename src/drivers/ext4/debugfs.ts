/** Runs debugfs against an image file. debugfs exits 0 on most failures, so its stderr is checked instead. */
import { run, ExecError, ToolMissingError } from '../../system/exec.js';
import { operationFailed, unavailable, BangerError } from '../../api/errors.js';
import { quote } from './guest-path.js';

export interface DebugfsResult {
  stdout: string;
  /** stderr lines other than the version banner. */
  errors: string[];
}

const BANNER = /^debugfs \d/;

function problemLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '' && !BANNER.test(l));
}

async function debugfs(argv: string[], input?: string, signal?: AbortSignal): Promise<DebugfsResult> {
  try {
    const r = await run(['debugfs', ...argv], { input, signal, maxOutput: 64 * 1024 * 1024 });
    return { stdout: r.stdout, errors: problemLines(r.stderr) };
  } catch (err) {
    throw toolError(err, 'debugfs');
  }
}

export function toolError(err: unknown, tool: string): BangerError {
  if (err instanceof BangerError) return err;
  if (err instanceof ToolMissingError) {
    return unavailable(`${tool} is not installed`, 'install e2fsprogs (apt-get install e2fsprogs)');
  }
  if (err instanceof ExecError) {
    return operationFailed(`${tool} failed: ${err.lastLines(6) || 'no output'}`, undefined, err);
  }
  return operationFailed(`${tool} failed: ${err instanceof Error ? err.message : String(err)}`, undefined, err);
}

/**
 * Runs a batch of debugfs commands (one per line) with the image open for writing.
 * Any error line fails the batch, naming the image.
 */
export async function debugfsWrite(image: string, commands: readonly string[], signal?: AbortSignal): Promise<string> {
  for (const c of commands) if (c.includes('\n')) throw new TypeError('debugfs command contains a newline');
  const r = await debugfs(['-w', '-f', '-', image], commands.join('\n') + '\n', signal);
  if (r.errors.length > 0) {
    throw operationFailed(`debugfs could not update ${image}: ${r.errors.slice(0, 6).join('; ')}`);
  }
  return r.stdout;
}

/** Runs read-only commands as a batch and returns stdout split per command. Errors are returned, not thrown. */
export async function debugfsReadBatch(image: string, commands: readonly string[]): Promise<{ sections: string[]; errors: string[] }> {
  for (const c of commands) if (c.includes('\n')) throw new TypeError('debugfs command contains a newline');
  const r = await debugfs(['-f', '-', image], commands.join('\n') + '\n');
  return { sections: splitSections(r.stdout, commands.length), errors: r.errors };
}

/** Runs one read-only request (`-R`: a single argv element, not a shell string). */
export async function debugfsRequest(image: string, request: string): Promise<DebugfsResult> {
  if (request.includes('\n')) throw new TypeError('debugfs request contains a newline');
  return debugfs(['-R', request, image]);
}

/** debugfs -f echoes each command as "debugfs: <cmd>"; the output of each follows its echo. */
export function splitSections(stdout: string, count: number): string[] {
  const sections: string[] = [];
  let current: string[] | undefined;
  for (const line of stdout.split('\n')) {
    if (line.startsWith('debugfs: ')) {
      if (current) sections.push(current.join('\n'));
      current = [];
    } else if (current) {
      current.push(line);
    }
  }
  if (current) sections.push(current.join('\n'));
  while (sections.length < count) sections.push('');
  return sections;
}

export type EntryType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket' | 'unknown';

export interface DirEntry {
  name: string;
  inode: number;
  /** Permission bits, including setuid/setgid/sticky. */
  mode: number;
  type: EntryType;
  uid: number;
  gid: number;
  size: number;
}

export function typeFromMode(mode: number): EntryType {
  switch (mode & 0o170000) {
    case 0o100000: return 'file';
    case 0o040000: return 'dir';
    case 0o120000: return 'symlink';
    case 0o020000: return 'char';
    case 0o060000: return 'block';
    case 0o010000: return 'fifo';
    case 0o140000: return 'socket';
    default: return 'unknown';
  }
}

/** Parses `ls -p` output: /inode/mode/uid/gid/name/size/ per line (without "." and ".."). */
export function parseLsP(section: string): DirEntry[] | undefined {
  const out: DirEntry[] = [];
  let sawDot = false;
  for (const line of section.split('\n')) {
    const m = /^\/(\d+)\/([0-7]+)\/(\d+)\/(\d+)\/(.*)\/(\d*)\/$/.exec(line);
    if (!m) continue;
    const name = m[5]!;
    if (name === '.') sawDot = true;
    if (name === '.' || name === '..') continue;
    const full = parseInt(m[2]!, 8);
    out.push({
      inode: Number(m[1]),
      mode: full & 0o7777,
      type: typeFromMode(full),
      uid: Number(m[3]),
      gid: Number(m[4]),
      name,
      size: m[6] ? Number(m[6]) : 0,
    });
  }
  return sawDot ? out : undefined;
}

/** `ls -p` for several directories in one debugfs run; a missing directory maps to undefined. */
export async function listDirs(image: string, dirs: readonly string[]): Promise<Map<string, DirEntry[] | undefined>> {
  const { sections } = await debugfsReadBatch(image, dirs.map((d) => `ls -p ${quote(d)}`));
  const out = new Map<string, DirEntry[] | undefined>();
  dirs.forEach((d, i) => out.set(d, parseLsP(sections[i] ?? '')));
  return out;
}
