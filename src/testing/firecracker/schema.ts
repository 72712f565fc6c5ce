/**
 * Firecracker's official API description (firecracker-v1.16.1.yaml, beside the project in
 * shared/firecracker/ or named by BANGER_FC_API_YAML), loaded with a YAML parser and compiled with
 * a JSON-schema validator, for tests and the stand-in API server. Nothing here is hand-copied from
 * the description: definitions, paths and methods are read from the file.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import AjvModule, { type ValidateFunction } from 'ajv';
import { parse } from 'yaml';

interface SchemaObject {
  type?: string;
  properties?: Record<string, SchemaObject>;
  $ref?: string;
  [k: string]: unknown;
}

interface Operation {
  parameters?: { in: string; schema?: { $ref?: string } }[];
  responses?: Record<string, unknown>;
}

interface Description {
  paths: Record<string, Record<string, Operation>>;
  definitions: Record<string, SchemaObject>;
}

/** Where the description is: $BANGER_FC_API_YAML, else shared/firecracker/ next to the checkout (worktrees included). */
export function descriptionPath(): string | undefined {
  const fromEnv = process.env.BANGER_FC_API_YAML;
  if (fromEnv) return fromEnv;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, 'shared', 'firecracker', 'firecracker-v1.16.1.yaml');
    if (existsSync(candidate)) return candidate;
    dir = resolve(dir, '..');
  }
  return undefined;
}

export class FirecrackerSchema {
  readonly description: Description;
  private readonly ajv: AjvModule.default;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(path: string) {
    this.description = parse(readFileSync(path, 'utf8')) as Description;
    // Swagger 2.0 schemas carry "example" and int64 formats; they describe, they do not constrain.
    this.ajv = new AjvModule.default({ strict: false, validateFormats: false, allErrors: true });
    this.ajv.addSchema({ $id: 'fc', definitions: this.description.definitions });
  }

  static load(): FirecrackerSchema | undefined {
    const p = descriptionPath();
    return p && existsSync(p) ? new FirecrackerSchema(p) : undefined;
  }

  definitions(): string[] {
    return Object.keys(this.description.definitions);
  }

  /**
   * Problems of `body` as an instance of `definition`, empty when it validates. Like Firecracker
   * (whose bodies are parsed with unknown fields denied), a property the definition does not list
   * is a problem too.
   */
  problems(definition: string, body: unknown): string[] {
    const def = this.description.definitions[definition];
    if (!def) return [`the description has no definition ${definition}`];
    let v = this.compiled.get(definition);
    if (!v) {
      v = this.ajv.compile({ $ref: `fc#/definitions/${definition}` });
      this.compiled.set(definition, v);
    }
    const out: string[] = [];
    if (!v(body)) out.push(...(v.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message ?? 'is invalid'}`));
    out.push(...this.unknownFields(def, body, ''));
    return out;
  }

  private unknownFields(def: SchemaObject, body: unknown, at: string): string[] {
    const resolved = def.$ref ? this.description.definitions[def.$ref.replace('#/definitions/', '')] : def;
    if (!resolved?.properties || typeof body !== 'object' || body === null || Array.isArray(body)) return [];
    const out: string[] = [];
    for (const [k, v] of Object.entries(body)) {
      const prop = resolved.properties[k];
      if (!prop) out.push(`${at}/${k} is not a field of ${def.$ref ?? 'the body'}`);
      else out.push(...this.unknownFields(prop, v, `${at}/${k}`));
    }
    return out;
  }

  /** The definition a request's body must follow, from the description's body parameter; undefined when the route does not exist. */
  bodyDefinition(method: string, path: string): string | undefined | null {
    const op = this.operation(method, path);
    if (!op) return null;
    const ref = op.parameters?.find((p) => p.in === 'body')?.schema?.$ref;
    return ref?.replace('#/definitions/', '');
  }

  /** The operation for a concrete path (/drives/root matches /drives/{drive_id}). */
  operation(method: string, path: string): Operation | undefined {
    for (const [template, ops] of Object.entries(this.description.paths)) {
      const re = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
      if (re.test(path)) return ops[method.toLowerCase()];
    }
    return undefined;
  }

  /** The response codes the description lists for an operation ("204", "400", "default"). */
  responseCodes(method: string, path: string): string[] {
    return Object.keys(this.operation(method, path)?.responses ?? {});
  }
}
