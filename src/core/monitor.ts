/**
 * MONITOR's line format: `1339518083.107412 [0 127.0.0.1:60866] "set" "k" "v"`,
 * arguments quoted and escaped as Redis's sdscatrepr does.
 */
import type { ClientState } from './types.js';

export function quoteRepr(b: Buffer): string {
  let out = '"';
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    switch (c) {
      case 0x5c: out += '\\\\'; break;
      case 0x22: out += '\\"'; break;
      case 0x0a: out += '\\n'; break;
      case 0x0d: out += '\\r'; break;
      case 0x09: out += '\\t'; break;
      case 0x07: out += '\\a'; break;
      case 0x08: out += '\\b'; break;
      default:
        out += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
    }
  }
  return out + '"';
}

export function formatMonitorLine(client: ClientState, argv: Buffer[]): string {
  const now = Date.now() / 1000;
  let line = `${now.toFixed(6)} [${client.db} ${client.addr}]`;
  for (const a of argv) line += ' ' + quoteRepr(a.length > 1024 ? a.subarray(0, 1024) : a);
  return line;
}
