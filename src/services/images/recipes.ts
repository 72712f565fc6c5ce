/** Image recipes: data files describing what an image build installs. */
import { createHash } from 'node:crypto';
import { badRequest, notFound } from '../../api/errors.js';
import debianBookworm from './recipes/debian-bookworm.json' with { type: 'json' };

export interface RecipeFile {
  path: string;
  content: string;
  /** Octal string, e.g. "0644". */
  mode: string;
}

/** A file fetched at build time, checked against its pinned sha256 before anything of it is used. */
export interface RecipeDownload {
  name: string;
  /** https only. */
  url: string;
  sha256: string;
  /** The member of the .tgz/.tar.gz to install. */
  member: string;
  /** Absolute path in the image. */
  dest: string;
  mode: string;
}

export interface Recipe {
  name: string;
  description: string;
  distro: string;
  suite: string;
  arch: string;
  variant: string;
  components: string[];
  extraSuites?: string[];
  security?: { mirror: string; suite: string };
  hostname?: string;
  packages: string[];
  /** Written into the tree before any package is installed (e.g. initramfs-tools settings). */
  earlyFiles?: RecipeFile[];
  files?: RecipeFile[];
  downloads?: RecipeDownload[];
}

export interface RecipeSummary {
  name: string;
  description: string;
  distro: string;
  suite: string;
}

const BUILTIN: readonly unknown[] = [debianBookworm];

const WORD = /^[a-z0-9][a-z0-9.+-]*$/;

/** Returns every problem with a recipe (empty when it can be built). */
export function recipeProblems(r: Recipe): string[] {
  const p: string[] = [];
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(r.name ?? '')) p.push('name must be lowercase letters, digits, ".", "_" or "-"');
  if (!WORD.test(r.suite ?? '')) p.push('suite is not a Debian suite name');
  if (r.arch !== 'amd64') p.push('arch must be amd64');
  if (!['minbase', 'essential', 'apt', 'required', 'important', 'standard'].includes(r.variant)) p.push(`variant ${JSON.stringify(r.variant)} is unknown`);
  if (!Array.isArray(r.components) || r.components.length === 0 || !r.components.every((c) => WORD.test(c))) p.push('components must be a list of names');
  if (!Array.isArray(r.packages) || r.packages.length === 0) p.push('packages must not be empty');
  for (const pkg of r.packages ?? []) if (!WORD.test(pkg)) p.push(`package ${JSON.stringify(pkg)} is not a Debian package name`);
  for (const s of r.extraSuites ?? []) if (!WORD.test(s)) p.push(`suite ${JSON.stringify(s)} is not a Debian suite name`);
  if (r.security && (!/^https?:\/\/[^\s]+$/.test(r.security.mirror) || !WORD.test(r.security.suite))) p.push('security needs an http(s) mirror and a suite');
  if (r.hostname !== undefined && !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(r.hostname)) p.push('hostname is not a DNS label');
  for (const f of [...(r.earlyFiles ?? []), ...(r.files ?? [])]) {
    if (!f.path.startsWith('/') || f.path.split('/').includes('..')) p.push(`file ${JSON.stringify(f.path)} is not an absolute path`);
    if (!/^0?[0-7]{3,4}$/.test(f.mode)) p.push(`file ${f.path}: mode ${JSON.stringify(f.mode)} is not octal`);
  }
  for (const d of r.downloads ?? []) {
    if (!WORD.test(d.name ?? '')) p.push(`download ${JSON.stringify(d.name)}: name must be lowercase letters, digits, ".", "+" or "-"`);
    if (!/^https:\/\/[^\s]+$/.test(d.url ?? '')) p.push(`download ${d.name}: url must be https`);
    if (!/^[0-9a-f]{64}$/.test(d.sha256 ?? '')) p.push(`download ${d.name}: sha256 must be 64 lowercase hex digits`);
    if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(d.member ?? '') || d.member.split('/').includes('..')) p.push(`download ${d.name}: member must be a relative path inside the archive`);
    if (!d.dest?.startsWith('/') || d.dest.split('/').includes('..')) p.push(`download ${d.name}: dest ${JSON.stringify(d.dest)} is not an absolute path`);
    if (!/^0?[0-7]{3,4}$/.test(d.mode ?? '')) p.push(`download ${d.name}: mode ${JSON.stringify(d.mode)} is not octal`);
  }
  return p;
}

export function checkRecipe(raw: unknown): Recipe {
  const r = raw as Recipe;
  const problems = recipeProblems(r);
  if (problems.length > 0) throw badRequest(`recipe ${JSON.stringify(r?.name)} is invalid: ${problems.join('; ')}`);
  return r;
}

/** The recipes shipped with banger. */
export function builtinRecipes(): Recipe[] {
  return BUILTIN.map((r) => checkRecipe(structuredClone(r)));
}

export function summarize(r: Recipe): RecipeSummary {
  return { name: r.name, description: r.description, distro: r.distro, suite: r.suite };
}

export function findRecipe(recipes: readonly Recipe[], name: string): Recipe {
  const r = recipes.find((x) => x.name === name);
  if (!r) {
    throw notFound(
      `no image recipe named ${JSON.stringify(name)}`,
      `buildable: ${recipes.map((x) => x.name).join(', ') || 'none'} (see 'banger image build --list')`,
    );
  }
  return r;
}

/** Stable digest of a recipe, for cache keys. */
export function recipeDigest(r: Recipe): string {
  return createHash('sha256').update(JSON.stringify(r)).digest('hex');
}
