/** `astronaut check <dir> [--fix]`: verify a data directory (wired to the persistence checker). */
export async function runCheck(args: string[]): Promise<number> {
  const { checkCommand } = await import('./store/check-cli.js');
  return checkCommand(args);
}
