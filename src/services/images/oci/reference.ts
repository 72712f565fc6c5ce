/** OCI image references: `[registry/]repository[:tag][@digest]`, with Docker Hub's shorthands. */
import { badRequest } from '../../../api/errors.js';

export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's registry API answers. */
export const DOCKER_HUB_API = 'registry-1.docker.io';

export interface ImageRef {
  /** Registry host[:port] as written (docker.io for Docker Hub). */
  registry: string;
  /** Repository path, e.g. library/debian. */
  repository: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d{1,5})?$|^\[[0-9a-fA-F:]+\](?::\d{1,5})?$/;

function malformed(ref: string, why: string): Error {
  return badRequest(
    `malformed image reference ${JSON.stringify(ref)}: ${why}`,
    'write it as [registry/]repository[:tag][@sha256:digest], e.g. debian:bookworm or 127.0.0.1:5000/team/base:v1',
  );
}

/** Parses a reference; throws bad_request naming what is wrong. */
export function parseRef(input: string): ImageRef {
  const ref = typeof input === 'string' ? input.trim() : '';
  if (ref === '') throw malformed(String(input), 'it is empty');
  if (ref.length > 512) throw malformed(ref.slice(0, 40) + '...', 'it is longer than 512 characters');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw malformed(ref, `digest ${JSON.stringify(digest)} is not sha256:<64 hex digits>`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw malformed(ref, `tag ${JSON.stringify(tag)} is invalid (letters, digits, "_", ".", "-"; at most 128)`);
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    registry = first;
    parts.shift();
    if (!HOST.test(registry)) throw malformed(ref, `registry ${JSON.stringify(registry)} is not a host[:port]`);
  }
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  if (parts.length === 0 || parts.some((p) => p === '')) throw malformed(ref, 'the repository path has an empty component');
  for (const p of parts) {
    if (!COMPONENT.test(p)) {
      throw malformed(ref, `repository component ${JSON.stringify(p)} must be lowercase letters and digits, separated by ".", "_", "__" or "-"`);
    }
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (repository.length > 255) throw malformed(ref, 'the repository name is longer than 255 characters');
  const out: ImageRef = { registry, repository };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  if (out.tag === undefined && out.digest === undefined) out.tag = 'latest';
  return out;
}

/** What a manifest request names: the digest when there is one, else the tag. */
export function refTarget(r: ImageRef): string {
  return r.digest ?? r.tag ?? 'latest';
}

export function formatRef(r: ImageRef): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** The host the registry API is reached at. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/**
 * The image name a pull uses by default: the repository's last component and the tag
 * (docker.io/library/debian:bookworm -> debian-bookworm), or the digest's first 12 digits.
 */
export function defaultImageName(r: ImageRef): string {
  const base = r.repository.split('/').pop()!;
  const suffix = r.tag ?? r.digest!.slice('sha256:'.length, 'sha256:'.length + 12);
  let name = `${base}-${suffix}`.replace(/[^A-Za-z0-9._-]/g, '-').replace(/\.{2,}/g, '.');
  if (!/^[A-Za-z0-9]/.test(name)) name = `img-${name}`;
  return name.slice(0, 63).replace(/[._-]+$/, '');
}

/** True for registries on the loopback interface (reached over plain HTTP). */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.startsWith('[') ? registry.slice(1, registry.indexOf(']')) : registry.split(':')[0]!;
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
