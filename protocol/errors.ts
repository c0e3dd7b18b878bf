/**
 * A malformed or oversized request. The connection cannot be resynchronised
 * after one (we no longer know where the next command starts), so the server
 * replies `-ERR ${message}`, flushes and closes, as Redis does.
 *
 * `message` is the Redis text without the `ERR ` prefix, e.g.
 * `Protocol error: invalid bulk length`.
 */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/**
 * One command grew past `client-query-buffer-limit` (`ParserLimits.queryBufferLimit`).
 * Redis closes such a client without a reply and logs it; a subclass, so the
 * server can tell it apart (log it, skip the reply) while code that only knows
 * `ProtocolError` still closes the connection.
 */
export class QueryBufferLimitError extends ProtocolError {
  constructor(readonly limit: number) {
    super('Protocol error: too big query buffer');
    this.name = 'QueryBufferLimitError';
  }
}
