// Tiny shared CLI parsing for the baseline servers, so they accept the same
// `--host H --port N` flags as Volley (port 0 = let the OS pick a free port),
// plus the per-scenario flags (--model, --name, --response-file).
export interface ListenArgs {
  host: string;
  port: number;
}

export function parseListenArgs(argv: readonly string[] = process.argv.slice(2)): ListenArgs {
  const args: ListenArgs = { host: '127.0.0.1', port: 0 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--host' && value !== undefined) {
      args.host = value;
      i++;
    } else if (flag === '--port' && value !== undefined) {
      const port = Number(value);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad --port ${value}`);
      args.port = port;
      i++;
    }
  }
  return args;
}

/** The value after `--<name>` (last one wins), or undefined; other flags are ignored. */
export function flagValue(name: string, argv: readonly string[] = process.argv.slice(2)): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < argv.length - 1; i++) if (argv[i] === `--${name}`) value = argv[++i];
  return value;
}

/** The same JSON line Volley's logger writes, which bench/run.ts parses for the port. */
export function logListening(host: string, port: number): void {
  process.stdout.write(`${JSON.stringify({ msg: 'listening', host, port })}\n`);
}
