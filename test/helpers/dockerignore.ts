/**
 * A reader of .dockerignore with Docker's rules, to check the build context
 * without a Docker engine: patterns are relative to the context root (a
 * leading '/' is dropped), `*` and `?` stay within one path segment, `**`
 * spans any number of segments, a pattern that matches a directory excludes
 * everything under it, `!` re-includes, and the last matching pattern wins.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface Rule { negate: boolean; re: RegExp; source: string }

function toRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') { i++; re += '(?:.*/)?'; } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export class DockerIgnore {
  readonly rules: Rule[];

  constructor(text: string) {
    this.rules = text.split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => {
        const negate = l.startsWith('!');
        const p = path.posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+/, '').replace(/\/+$/, '');
        return { negate, re: toRegExp(p), source: l };
      });
  }

  static read(file: string): DockerIgnore { return new DockerIgnore(readFileSync(file, 'utf8')); }

  /** Is this context-relative path (posix separators) left out of the build context? */
  excludes(rel: string): boolean {
    const parts = rel.split('/');
    const candidates: string[] = [];
    for (let i = 1; i <= parts.length; i++) candidates.push(parts.slice(0, i).join('/'));
    let excluded = false;
    for (const rule of this.rules) {
      if (candidates.some((c) => rule.re.test(c))) excluded = !rule.negate;
    }
    return excluded;
  }

  /** Every file of `root` that would be sent as the build context (excluded directories are not entered when nothing re-includes). */
  contextFiles(root: string): string[] {
    const hasNegation = this.rules.some((r) => r.negate);
    const out: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(path.join(root, dir), { withFileTypes: true })) {
        const rel = dir ? `${dir}/${e.name}` : e.name;
        const gone = this.excludes(rel);
        if (e.isDirectory()) { if (!gone || hasNegation) walk(rel); }
        else if (!gone) out.push(rel);
      }
    };
    walk('');
    return out;
  }
}
