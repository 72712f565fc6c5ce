/** A git checkout with every kind of change a workspace must carry, and a listing of a tree (path, mode, content hash) to compare. */
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../system/exec.js';

/** Prints `path<TAB>mode<TAB>sha256` (or `link<TAB>link:target`) for every file and symlink under $1, .git excluded, sorted. */
export const TREE_STATE_SCRIPT = `cd -- "$1" || exit 1
find . -path ./.git -prune -o \\( -type f -o -type l \\) -print0 | LC_ALL=C sort -z | while IFS= read -r -d '' f; do
  p=\${f#./}
  if [ -L "$f" ]; then printf '%s\\tlink\\tlink:%s\\n' "$p" "$(readlink "$f")"
  else printf '%s\\t%s\\t%s\\n' "$p" "$(stat -c %a "$f")" "$(sha256sum < "$f" | cut -d' ' -f1)"; fi
done`;

export async function treeState(dir: string): Promise<string[]> {
  const r = await run(['bash', '-c', TREE_STATE_SCRIPT, 'bash', dir]);
  return r.stdout.split('\n').filter((l) => l !== '');
}

export const gitIn = (dir: string, ...args: string[]) =>
  run(['git', '-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args]).then((r) => r.stdout);

/** Untracked, non-ignored files of the repo below (copied only with --include-untracked). */
export const UNTRACKED = ['notes/untracked new.txt'];

/**
 * Committed files (text, binary with NUL bytes, an executable, a symlink, a name with spaces), a
 * staged change and a staged new file, an unstaged edit, an unstaged deletion, an untracked file and
 * an ignored one.
 */
export async function makeWorkspaceRepo(dir: string): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'dir'), { recursive: true });
  await run(['git', 'init', '-q', '-b', 'main', dir]);
  writeFileSync(join(dir, 'a.txt'), 'alpha\nline two\n');
  writeFileSync(join(dir, 'dir', 'b.txt'), 'bravo\n');
  writeFileSync(join(dir, 'bin.dat'), Buffer.from([0, 1, 2, 255, 0, 10, 13, 0, 42]));
  writeFileSync(join(dir, 'run.sh'), '#!/bin/sh\necho run\n');
  chmodSync(join(dir, 'run.sh'), 0o755);
  symlinkSync('a.txt', join(dir, 'link'));
  writeFileSync(join(dir, 'with space.txt'), 'spaces\n');
  writeFileSync(join(dir, 'gone.txt'), 'to be deleted\n');
  writeFileSync(join(dir, '.gitignore'), '*.log\n');
  await gitIn(dir, 'add', '-A');
  await gitIn(dir, 'commit', '-q', '-m', 'first commit');
  writeFileSync(join(dir, 'a.txt'), 'alpha\nline two\nstaged line\n');
  writeFileSync(join(dir, 'staged.txt'), 'new and staged\n');
  await gitIn(dir, 'add', 'a.txt', 'staged.txt');
  writeFileSync(join(dir, 'dir', 'b.txt'), 'bravo\nunstaged\n');
  rmSync(join(dir, 'gone.txt'));
  mkdirSync(join(dir, 'notes'));
  writeFileSync(join(dir, UNTRACKED[0]!), 'untracked\n');
  writeFileSync(join(dir, 'debug.log'), 'ignored\n');
}

/** The host tree as a workspace copy of it should look (ignored files never go; untracked ones only when asked). */
export async function expectedTree(dir: string, includeUntracked: boolean): Promise<string[]> {
  return (await treeState(dir)).filter((l) => !l.startsWith('debug.log\t') && (includeUntracked || !UNTRACKED.some((u) => l.startsWith(`${u}\t`))));
}
