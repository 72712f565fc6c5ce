/**
 * The host side of a workspace: the git checkout a client copies into a VM. Finds its top directory,
 * refuses what cannot be copied (not a repository, a bare one, submodules without the flag, no
 * commit yet), and lists the working tree as it is now (tracked files, optionally the untracked
 * non-ignored ones) with each file's git mode and blob id, so two listings say what changed.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BangerError, badRequest } from '../../api/errors.js';
import { runUnchecked, type RunResult } from '../../system/exec.js';

/** One file of the working tree: git mode (100644, 100755, 120000), blob id, path relative to the top. */
export interface TreeEntry {
  path: string;
  mode: string;
  id: string;
}

export interface HostRepo {
  root: string;
  head: string;
  /** The checked-out branch; undefined on a detached HEAD. */
  branch?: string;
}

const MAX_OUTPUT = 256 * 1024 * 1024;

export async function git(root: string, args: readonly string[], input?: string): Promise<RunResult> {
  return runUnchecked(['git', '-C', root, ...args], { maxOutput: MAX_OUTPUT, ...(input !== undefined ? { input } : {}) });
}

export async function gitOk(root: string, args: readonly string[], what: string, input?: string): Promise<string> {
  const r = await git(root, args, input);
  if (r.code !== 0) throw new BangerError('operation_failed', `${what} failed in ${root}: ${r.stderr.trim() || `git exited ${String(r.code)}`}`);
  return r.stdout;
}

/** The checkout that holds `path`, or a bad_request saying why it cannot be a workspace. */
export async function openHostRepo(path: string): Promise<HostRepo> {
  const abs = resolve(path);
  if (!existsSync(abs)) throw badRequest(`${path} does not exist`, 'give the path of a git checkout, e.g. banger vm workspace prepare dev .');
  const dir = statSync(abs).isDirectory() ? abs : resolve(abs, '..');
  const bare = await git(dir, ['rev-parse', '--is-bare-repository']);
  if (bare.code !== 0) {
    throw badRequest(`${path} is not inside a git repository`, `run git init in it (and commit), or give the path of a git checkout`);
  }
  if (bare.stdout.trim() === 'true') {
    throw badRequest(`${path} is a bare git repository: it has no working tree to copy`, `clone it first (git clone ${path} ./checkout) and give the checkout's path`);
  }
  const root = (await gitOk(dir, ['rev-parse', '--show-toplevel'], 'git rev-parse')).trim();
  const head = await git(root, ['rev-parse', '--verify', '-q', 'HEAD^{commit}']);
  if (head.code !== 0) throw badRequest(`${root} has no commit yet`, 'commit something first (git commit), then prepare again');
  const branch = await git(root, ['symbolic-ref', '-q', '--short', 'HEAD']);
  return { root, head: head.stdout.trim(), ...(branch.code === 0 && branch.stdout.trim() ? { branch: branch.stdout.trim() } : {}) };
}

/** A commit the host knows, as a full id (`--from`, `--base-commit`). */
export async function resolveCommit(root: string, ref: string, flag: string): Promise<string> {
  const r = await git(root, ['rev-parse', '--verify', '-q', '--end-of-options', `${ref}^{commit}`]);
  if (r.code !== 0) throw badRequest(`${flag} ${ref}: no such commit in ${root}`, 'give a branch, tag or commit id of that repository');
  return r.stdout.trim();
}

/** A branch name git accepts (`--branch`). */
export async function checkBranchName(root: string, name: string): Promise<void> {
  const r = await git(root, ['check-ref-format', '--branch', name]);
  if (r.code !== 0 || name.startsWith('-')) throw badRequest(`--branch ${JSON.stringify(name)} is not a valid branch name`, 'use letters, digits, - _ / . e.g. --branch agent/fix-1');
}

const split0 = (s: string) => s.split('\0').filter((x) => x !== '');

/** Git's blob id of a file's content (or of a symlink's target). */
export function blobId(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

/** The entry for a file as it is on disk now, or undefined when it is gone (or is a directory). */
export function diskEntry(top: string, rel: string, prefix = ''): TreeEntry | undefined {
  const p = join(top, rel);
  let st;
  try {
    st = lstatSync(p);
  } catch {
    return undefined;
  }
  const path = prefix + rel;
  if (st.isSymbolicLink()) return { path, mode: '120000', id: blobId(Buffer.from(readlinkSync(p), 'utf8')) };
  if (!st.isFile()) return undefined;
  return { path, mode: st.mode & 0o111 ? '100755' : '100644', id: blobId(readFileSync(p)) };
}

export interface TreeListing {
  entries: TreeEntry[];
  /** Paths of submodules (gitlinks) in the index. */
  submodules: string[];
}

/**
 * The working tree as it is now. Clean tracked files take their index entry (no read); changed and
 * untracked ones are hashed from disk. With `submodules`, each submodule's tracked files come along
 * as plain files.
 */
export async function listWorkingTree(root: string, opts: { includeUntracked: boolean; submodules: boolean }): Promise<TreeListing> {
  // Both read the index; `git diff` may refresh its stat data, which `ls-files -s` does not look at.
  const [stagedOut, dirtyOut, untrackedOut] = await Promise.all([
    gitOk(root, ['ls-files', '-s', '-z'], 'git ls-files'),
    gitOk(root, ['diff', '--name-only', '-z', '--no-renames', '--ignore-submodules=all'], 'git diff'),
    opts.includeUntracked ? gitOk(root, ['ls-files', '-o', '--exclude-standard', '-z'], 'git ls-files') : Promise.resolve(''),
  ]);
  const staged = split0(stagedOut);
  const dirty = new Set(split0(dirtyOut));
  const byPath = new Map<string, TreeEntry>();
  const submodules: string[] = [];
  for (const rec of staged) {
    const tab = rec.indexOf('\t');
    const [mode = '', id = '', stage = '0'] = rec.slice(0, tab).split(' ');
    const path = rec.slice(tab + 1);
    if (mode === '160000') {
      submodules.push(path);
      continue;
    }
    if (stage !== '0') dirty.add(path);
    else if (!dirty.has(path)) byPath.set(path, { path, mode, id });
  }
  const fromDisk = [...dirty];
  if (opts.includeUntracked) fromDisk.push(...split0(untrackedOut).filter((p) => !p.endsWith('/')));
  for (const rel of fromDisk) {
    if (submodules.includes(rel)) continue;
    const e = diskEntry(root, rel);
    if (e) byPath.set(rel, e);
    else byPath.delete(rel);
  }
  if (opts.submodules) {
    for (const sub of submodules) {
      const top = join(root, sub);
      if (!existsSync(join(top, '.git'))) continue;
      const files = split0(await gitOk(top, ['ls-files', '-z', ...(opts.includeUntracked ? ['-c', '-o', '--exclude-standard'] : [])], 'git ls-files (submodule)'));
      for (const rel of files) {
        const e = diskEntry(top, rel, `${sub}/`);
        if (e) byPath.set(e.path, e);
      }
    }
  }
  const entries = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { entries, submodules };
}

/** The manifest kept in the guest: what was copied, so the next prepare sends only the difference. */
export function manifestText(head: string, entries: readonly TreeEntry[]): string {
  return `banger-workspace 1 ${head}\0` + entries.map((e) => `${e.mode} ${e.id}\t${e.path}\0`).join('');
}

export function parseManifest(text: string): { head: string; entries: Map<string, TreeEntry> } | undefined {
  const recs = text.split('\0');
  const m = /^banger-workspace 1 ([0-9a-f]{40,64})$/.exec(recs[0] ?? '');
  if (!m) return undefined;
  const entries = new Map<string, TreeEntry>();
  for (const rec of recs.slice(1)) {
    if (rec === '') continue;
    const tab = rec.indexOf('\t');
    const [mode = '', id = ''] = rec.slice(0, tab).split(' ');
    const path = rec.slice(tab + 1);
    entries.set(path, { path, mode, id });
  }
  return { head: m[1]!, entries };
}
