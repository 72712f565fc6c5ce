/** Files in a VM, moved as raw bytes through `cat` over its ssh connection (no encoding, any size). */
import { BangerError } from '../api/errors.js';
import { execBuffer, type ExecBufferResult, type Reach } from './exec.js';

export interface FileEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  sizeBytes: number;
  /** Permission bits, e.g. 0o644. */
  mode: number;
}

export interface WriteOptions {
  /** Permission bits of the file (default 0o644). */
  mode?: number;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface ReadOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Replaces the file in one step (a temporary file beside it, then rename), creating the directories above it. */
const WRITE = 'set -e; d=$(dirname -- "$1"); mkdir -p -- "$d"; t="$1.banger-$$"; trap \'rm -f -- "$t"\' EXIT; cat > "$t"; chmod "$2" "$t"; mv -f -- "$t" "$1"; trap - EXIT';
const LIST = 'cd -- "$1" && find . -mindepth 1 -maxdepth 1 -printf \'%y\\t%s\\t%m\\t%P\\0\'';

function failure(vm: string, what: string, path: string, r: ExecBufferResult): BangerError {
  const msg = r.stderr.toString('utf8').trim().split('\n').pop() ?? '';
  const code = /No such file|not found|Not a directory/i.test(msg) ? 'not_found' : 'operation_failed';
  return new BangerError(code, `cannot ${what} ${path} in vm ${vm}${msg ? `: ${msg}` : ` (exit status ${r.exitCode})`}`);
}

function checkPath(path: string): string {
  if (typeof path !== 'string' || path === '' || path.includes('\0')) throw new BangerError('bad_request', `invalid path ${JSON.stringify(path)}`);
  return path;
}

export class VMFiles {
  constructor(
    private readonly vm: string,
    private readonly target: () => Promise<Reach>,
  ) {}

  /** The file's bytes. A missing file is a BangerError `not_found`. */
  async read(path: string, opts: ReadOptions = {}): Promise<Buffer> {
    const r = await execBuffer(await this.target(), ['cat', '--', checkPath(path)], opts);
    if (r.exitCode !== 0) throw failure(this.vm, 'read', path, r);
    return r.stdout;
  }

  /** Writes the file (replacing it whole), creating missing directories. */
  async write(path: string, data: Buffer | string, opts: WriteOptions = {}): Promise<void> {
    const mode = opts.mode ?? 0o644;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new BangerError('bad_request', `invalid mode ${String(mode)}`);
    const r = await execBuffer(await this.target(), ['sh', '-c', WRITE, 'sh', checkPath(path), mode.toString(8)], {
      ...opts,
      stdin: typeof data === 'string' ? Buffer.from(data, 'utf8') : data,
    });
    if (r.exitCode !== 0) throw failure(this.vm, 'write', path, r);
  }

  /** The entries of a directory (not recursive), sorted by name. */
  async list(dir: string, opts: ReadOptions = {}): Promise<FileEntry[]> {
    const r = await execBuffer(await this.target(), ['sh', '-c', LIST, 'sh', checkPath(dir)], opts);
    if (r.exitCode !== 0) throw failure(this.vm, 'list', dir, r);
    const types: Record<string, FileEntry['type']> = { f: 'file', d: 'dir', l: 'symlink' };
    return r.stdout
      .toString('utf8')
      .split('\0')
      .filter((rec) => rec !== '')
      .map((rec) => {
        const [type = '', size = '0', mode = '0', ...name] = rec.split('\t');
        return { name: name.join('\t'), type: types[type] ?? 'other', sizeBytes: Number(size), mode: parseInt(mode, 8) };
      })
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}
