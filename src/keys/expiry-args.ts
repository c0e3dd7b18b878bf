/**
 * Argument rules shared by the commands that set deadlines (EXPIRE family,
 * SET, GETEX, SETEX): Redis's int64 parsing and overflow checks, and the
 * absolute deadline every one of them is logged with.
 */
import { ArgError, NOT_AN_INTEGER } from '../errors.js';
import { parseInteger } from '../core/numbers.js';

export const INT64_MAX = 9223372036854775807n;
export const INT64_MIN = -9223372036854775808n;
const INT64_TEXT = /^(?:0|-?[1-9][0-9]{0,18})$/;

/**
 * Redis's string2ll over the whole int64 range (parseInteger stops at 2^53):
 * the common small number takes parseInteger's allocation-free path.
 */
export function parseInt64(arg: Buffer): bigint {
  if (arg.length <= 15) {
    try { return BigInt(parseInteger(arg)); } catch { /* below: same verdict, or a long form */ }
  }
  const s = arg.toString('latin1');
  if (!INT64_TEXT.test(s)) throw new ArgError(NOT_AN_INTEGER);
  const v = BigInt(s);
  if (v > INT64_MAX || v < INT64_MIN) throw new ArgError(NOT_AN_INTEGER);
  return v;
}

/** `invalid expire time in 'set' command`: Redis names the command as the client spelled its table entry. */
export const invalidExpire = (command: string) => new ArgError(`invalid expire time in '${command}' command`);

/**
 * EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT's deadline (Unix ms), negative allowed
 * (the key is then deleted), refused only on int64 overflow, as expireGenericCommand does.
 */
export function expireDeadline(arg: Buffer, seconds: boolean, absolute: boolean, command: string, now: number): number {
  let when = parseInt64(arg);
  if (seconds) {
    if (when > INT64_MAX / 1000n || when < INT64_MIN / 1000n) throw invalidExpire(command);
    when *= 1000n;
  }
  const base = absolute ? 0n : BigInt(now);
  if (when > INT64_MAX - base) throw invalidExpire(command);
  return Number(when + base);
}

/** SET/GETEX/SETEX/PSETEX's deadline (Unix ms): the amount must be positive (parseExtendedStringArgumentsOrReply). */
export function setDeadline(arg: Buffer, seconds: boolean, absolute: boolean, command: string, now: number): number {
  let ms = parseInt64(arg);
  if (ms <= 0n || (seconds && ms > INT64_MAX / 1000n)) throw invalidExpire(command);
  if (seconds) ms *= 1000n;
  if (!absolute) {
    if (ms > INT64_MAX - BigInt(now)) throw invalidExpire(command);
    ms += BigInt(now);
  }
  return Number(ms);
}

/** A deadline as its WAL argument (PXAT / PEXPIREAT take integer milliseconds). */
export const msArg = (at: number): Buffer => Buffer.from(BigInt(at).toString());
