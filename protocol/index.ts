/**
 * The RESP codec: request parser, reply model and encoder, protocol errors.
 * Standalone: imports nothing from `src/`.
 */
export { ProtocolError, QueryBufferLimitError } from './errors.js';
export { DEFAULT_LIMITS, RequestParser, type ParserLimits } from './parser.js';
export { ReplyEncoder, encode, formatDouble } from './encoder.js';
export * from './reply.js';
