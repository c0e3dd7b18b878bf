/**
 * The logging surface persistence needs: the subset of a pino logger it calls,
 * always as `(fields, message)`. A pino `Logger` satisfies it as is.
 */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Used when the caller passes no logger: persistence never prints on its own. */
export const SILENT_LOGGER: Logger = {
  info() {},
  warn() {},
  error() {},
};

