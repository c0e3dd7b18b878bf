/**
 * Typed errors, each carrying the RESP error code that prefixes its reply.
 * Engine, persistence and command code throw these; the dispatcher maps them
 * to replies in one place (`Dispatcher.errorReply`). Anything untyped is a
 * bug: it becomes `-ERR internal error` and its stack goes to the log, never
 * to the client.
 */
export class RespError extends Error {
  /** The first word of the RESP error line, e.g. `ERR`, `WRONGTYPE`. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
  /** The error line without the leading '-' and without CRLF. */
  line(): string {
    return `${this.code} ${this.message}`;
  }
}

/** Bad arguments: `-ERR …`. */
export class ArgError extends RespError {
  constructor(message: string) { super('ERR', message); }
}

export class WrongTypeError extends RespError {
  constructor() { super('WRONGTYPE', 'Operation against a key holding the wrong kind of value'); }
}

export class LoadingError extends RespError {
  constructor() { super('LOADING', 'Astronaut is loading the dataset in memory'); }
}

export class MisconfError extends RespError {
  constructor(detail = 'Errors writing to the AOF file: writes are refused until the disk accepts them again') {
    super('MISCONF', detail);
  }
}

export class NoAuthError extends RespError {
  constructor() { super('NOAUTH', 'Authentication required.'); }
}

export class WrongPassError extends RespError {
  constructor() { super('WRONGPASS', 'invalid username-password pair or user is disabled.'); }
}

export class DeniedError extends RespError {
  constructor(message: string) { super('DENIED', message); }
}

export class NoProtoError extends RespError {
  constructor() { super('NOPROTO', 'unsupported protocol version'); }
}

export class ExecAbortError extends RespError {
  constructor() { super('EXECABORT', 'Transaction discarded because of previous errors.'); }
}

/** Canonical Redis wording, shared so commands do not retype it. */
export const NOT_AN_INTEGER = 'value is not an integer or out of range';
export const NOT_A_FLOAT = 'value is not a valid float';
export const SYNTAX = 'syntax error';

/**
 * Make any text safe to embed in a one-line error reply: CR/LF become spaces
 * (a newline would end the reply early and desynchronise the client).
 */
export function oneLine(text: string): string {
  return text.replace(/[\r\n]/g, ' ');
}

/** The code of an error line (`ERR`, `WRONGTYPE`…): its first word, or all of a one-word line. */
export function errorCode(line: string): string {
  return line.slice(0, line.indexOf(' ') >>> 0);
}

/** An argument as an error quotes it, as Redis does: its first 128 bytes, on one line. */
export function quotedArg(arg: Buffer): string {
  return oneLine(arg.toString('latin1').slice(0, 128));
}
