// What `-S` does not print, read from the <VirtualHost> block it points at
// (file:line): whether the block names itself (ServerName) and its aliases.
// Best effort: directives are read literally (no ${VAR}, Define, <If*>,
// Include or mod_macro expansion); null when the file cannot be read or the
// line is not a <VirtualHost>.
import { readFileSync } from 'node:fs';

export interface VhostBlock {
  serverName?: string;
  aliases: string[];
}

export type BlockReader = (file: string, line: number) => VhostBlock | null;

/** Apache's argument splitting, near enough: whitespace-separated words, "quoted" words allowed. */
function words(text: string): string[] {
  return [...text.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

/** Pure: the block starting at 1-based `line` of `text`. */
export function parseVhostBlock(text: string, line: number): VhostBlock | null {
  const lines = text.split(/\r?\n/);
  if (!/^\s*<VirtualHost[\s>]/i.test(lines[line - 1] ?? '')) return null;
  const block: VhostBlock = { aliases: [] };
  let depth = 0;
  for (let i = line; i < lines.length; i++) {
    // Continuation lines ("\" at the end) join the next one.
    let l = lines[i];
    while (l.endsWith('\\') && i + 1 < lines.length) l = l.slice(0, -1) + ' ' + lines[++i];
    const t = l.trim();
    if (/^<\/VirtualHost\s*>/i.test(t)) break;
    if (/^<\//.test(t)) depth--;
    else if (/^</.test(t)) depth++;
    if (depth > 0 || t.startsWith('#')) continue; // nested sections (<Directory>, <If>) are not the vhost's own
    const [directive, ...args] = words(t);
    if (/^ServerName$/i.test(directive ?? '') && args[0]) block.serverName = args[0];
    else if (/^ServerAlias$/i.test(directive ?? '')) block.aliases.push(...args);
  }
  return block;
}

export const readVhostBlock: BlockReader = (file, line) => {
  try {
    return parseVhostBlock(readFileSync(file, 'utf8'), line);
  } catch {
    return null;
  }
};
