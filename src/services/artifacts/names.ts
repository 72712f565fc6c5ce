/** Names of images and kernels: they become directory names and appear on command lines. */
import { badRequest } from '../../api/errors.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function artifactNameProblem(kind: 'image' | 'kernel', name: string): string | undefined {
  if (typeof name !== 'string' || name === '') return `${kind} name is required`;
  if (!NAME.test(name)) {
    return `${kind} name ${JSON.stringify(name)} is invalid (allowed: letters, digits, ".", "-", "_"; must start with a letter or digit; at most 63)`;
  }
  if (name.includes('..')) return `${kind} name ${JSON.stringify(name)} must not contain ".."`;
  return undefined;
}

export function validateArtifactName(kind: 'image' | 'kernel', name: string): string {
  const problem = artifactNameProblem(kind, name);
  if (problem) throw badRequest(problem, `pick a name such as "debian-bookworm" or "cloud-6.1"`);
  return name;
}
