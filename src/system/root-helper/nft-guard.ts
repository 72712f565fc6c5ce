/**
 * What the root helper lets through to nft: scripts whose every command names one of banger's own
 * tables (`inet banger`, `bridge banger`), and listings of objects in them. A script is split into
 * its top-level commands (newlines and semicolons outside braces and strings); each must be an
 * add/create/delete/flush/insert/replace/reset of a table object in banger's tables, or a
 * `table inet|bridge banger { ... }` block. Nothing that reads other files or defines variables
 * (include, define, $) is accepted anywhere.
 *
 * @module
 */
export const BANGER_TABLE = 'banger';

const COMMAND = /^(add|create|delete|flush|insert|replace|reset)\s+(table|chain|rule|set|map|element|counter)\s+(inet|bridge)\s+banger(\s|$)/;
const BLOCK = /^table\s+(inet|bridge)\s+banger\s*\{[\s\S]*\}$/;
const FORBIDDEN_WORD = /^(include|define|redefine|undefine|ruleset)$/;
const OBJECT_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

export class NftScriptRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NftScriptRefused';
  }
}

/** The script's top-level commands, trimmed; throws on characters or words the helper never passes. */
export function splitCommands(script: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  let quoted = false;
  let word = '';
  const endWord = () => {
    if (FORBIDDEN_WORD.test(word)) throw new NftScriptRefused(`"${word}" is not allowed in banger's nftables scripts`);
    word = '';
  };
  for (const ch of script) {
    if (quoted) {
      if (ch === '\n') throw new NftScriptRefused('unterminated string in nftables script');
      if (ch === '\\') throw new NftScriptRefused('escapes in strings are not allowed in banger\'s nftables scripts');
      if (ch === '"') quoted = false;
      cur += ch;
      continue;
    }
    if (/[A-Za-z]/.test(ch)) word += ch;
    else endWord();
    if (ch === '"') quoted = true;
    else if (ch === '$' || ch === '#' || ch === '\\' || ch === '\0') throw new NftScriptRefused(`"${ch}" is not allowed in banger's nftables scripts`);
    else if (ch === '{') depth++;
    else if (ch === '}') {
      depth--;
      if (depth < 0) throw new NftScriptRefused('unbalanced braces in nftables script');
    } else if (depth === 0 && (ch === '\n' || ch === ';')) {
      if (cur.trim() !== '') out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  endWord();
  if (quoted || depth !== 0) throw new NftScriptRefused('unbalanced braces or quotes in nftables script');
  if (cur.trim() !== '') out.push(cur.trim());
  return out;
}

/** Whether the first brace group of `c` (outside strings) closes at its last character. */
function oneBlock(c: string): boolean {
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < c.length; i++) {
    const ch = c[i];
    if (quoted) {
      if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === '{') depth++;
    else if (ch === '}' && --depth === 0) return i === c.length - 1;
  }
  return false;
}

/** Throws NftScriptRefused unless every command of the script stays inside banger's tables. */
export function checkBangerScript(script: string): void {
  if (script.length > 1024 * 1024) throw new NftScriptRefused('nftables script too long');
  const commands = splitCommands(script);
  if (commands.length === 0) throw new NftScriptRefused('empty nftables script');
  for (const c of commands) {
    if (!COMMAND.test(c) && !(BLOCK.test(c) && oneBlock(c))) {
      const head = c.split(/\s+/).slice(0, 4).join(' ');
      throw new NftScriptRefused(`nftables command outside banger's tables: "${head}${c.length > head.length ? ' ...' : ''}"`);
    }
  }
}

/** Throws NftScriptRefused unless `what` lists an object of banger's tables (`set inet banger NAME`, ...). */
export function checkBangerListing(what: readonly unknown[]): string[] {
  const [kind, family, table, name, ...rest] = what;
  const ok =
    rest.length === 0 &&
    typeof kind === 'string' &&
    ['table', 'chain', 'set', 'map', 'counter'].includes(kind) &&
    (family === 'inet' || family === 'bridge') &&
    table === BANGER_TABLE &&
    (kind === 'table' ? name === undefined : typeof name === 'string' && OBJECT_NAME.test(name));
  if (!ok) throw new NftScriptRefused(`listing outside banger's tables: ${JSON.stringify(what)}`);
  return what as string[];
}
