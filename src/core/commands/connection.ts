/**
 * Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET, CLIENT.
 * What every client library sends on connect must simply work here.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { OK, PONG, ReplyMap, SimpleString, Verbatim, type Reply } from '../../../protocol/reply.js';
import { helpReply, subcommandBuilder, wrongArity } from '../command-table.js';
import { ArgError, NoAuthError, NoProtoError, WrongPassError, NOT_AN_INTEGER, SYNTAX } from '../../errors.js';
import { REDIS_COMPAT_VERSION } from '../../version.js';
import type { ClientDescription, ClientState, ClientView, CommandSpec, Ctx } from '../types.js';
import { isKeyword } from '../numbers.js';
import { parseInteger } from '../numbers.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest();

/** Constant-time password check: compare fixed-length hashes so timing says nothing about the password. */
export function passwordMatches(ctx: Ctx, given: Buffer): boolean {
  const want = ctx.server.config.requirepass;
  return timingSafeEqual(sha(given), sha(want));
}

function authenticate(ctx: Ctx, user: Buffer | null, pass: Buffer): void {
  if (!ctx.server.config.requirepass) {
    if (user && user.toString() !== 'default') throw new WrongPassError();
    throw new ArgError('AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?');
  }
  const userOk = user === null || user.toString() === 'default';
  // Evaluate the hash comparison even for a wrong user so both paths take the same time.
  const passOk = passwordMatches(ctx, pass);
  if (!userOk || !passOk) throw new WrongPassError();
  ctx.client.authenticated = true;
}

function validClientName(name: Buffer): boolean {
  for (const c of name) if (c < 0x21 || c > 0x7e) return false;
  return true;
}

function setName(client: ClientState, name: Buffer): void {
  if (!validClientName(name)) throw new ArgError('Client names cannot contain spaces, newlines or special characters.');
  client.name = name.toString();
}

function hello(ctx: Ctx, argv: Buffer[]): Reply {
  const { client } = ctx;
  let proto = client.proto;
  let i = 1;
  if (argv.length > 1) {
    let v: number;
    try { v = parseInteger(argv[1]); } catch { throw new ArgError('Protocol version is not an integer or out of range'); }
    if (v !== 2 && v !== 3) throw new NoProtoError();
    proto = v;
    i = 2;
  }
  let auth: [Buffer, Buffer] | null = null;
  let name: Buffer | null = null;
  for (; i < argv.length; i++) {
    if (isKeyword(argv[i], 'AUTH') && i + 2 < argv.length) { auth = [argv[i + 1], argv[i + 2]]; i += 2; }
    else if (isKeyword(argv[i], 'SETNAME') && i + 1 < argv.length) { name = argv[i + 1]; i += 1; }
    else throw new ArgError(`Syntax error in HELLO option '${argv[i].toString('latin1').slice(0, 64)}'`);
  }
  if (auth) authenticate(ctx, auth[0], auth[1]);
  if (!client.authenticated) {
    throw new NoAuthError();
  }
  if (name) setName(client, name);
  client.proto = proto;
  return new ReplyMap([
    ['server', 'redis'],
    ['version', REDIS_COMPAT_VERSION],
    ['proto', proto],
    ['id', client.id],
    ['mode', 'standalone'],
    ['role', 'master'],
    ['modules', []],
  ]);
}

function clientFlags(c: ClientView, more: string): string {
  let f = '';
  if (c.monitor) f += 'O';
  f += more;
  if (c.multi) f += 'x';
  if (c.noEvict) f += 'e';
  if (c.noTouch) f += 'T';
  return f || 'N';
}

/** One CLIENT LIST / CLIENT INFO line, with Redis's field names; `d` is what the features add (ServerApi.describeClient). */
export function clientLine(c: ClientView, d: ClientDescription = {}): string {
  const now = Date.now();
  const f = d.fields ?? {};
  return `id=${c.id} addr=${c.addr} laddr=${c.laddr} fd=${c.fd} name=${c.name} age=${Math.floor((now - c.createdAt) / 1000)} `
    + `idle=${Math.floor((now - c.lastInteraction) / 1000)} flags=${clientFlags(c, d.flags ?? '')} db=${c.db} sub=${f.sub ?? 0} psub=${f.psub ?? 0} ssub=${f.ssub ?? 0} `
    + `multi=${c.multi ? c.multi.length : -1} watch=${f.watch ?? 0} qbuf=${c.inputBytes} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 `
    + `obl=0 oll=0 omem=${c.outputBytes} tot-mem=${c.inputBytes + c.outputBytes} events=r cmd=${c.lastCommand} user=default `
    + `redir=${f.redir ?? -1} resp=${c.proto} lib-name=${c.libName} lib-ver=${c.libVer}`;
}

/** Redis's type of a client (CLIENT LIST/KILL TYPE). */
const typeOf = (c: ClientView): string => c.mode ? c.mode.type : 'normal';

function self(ctx: Ctx): ClientView | undefined {
  for (const c of ctx.server.clients()) if (c.id === ctx.client.id) return c;
  return undefined;
}

function clientKill(ctx: Ctx, argv: Buffer[]): Reply {
  // Old form: CLIENT KILL ip:port → OK or error.
  if (argv.length === 3) {
    const addr = argv[2].toString();
    for (const c of ctx.server.clients()) if (c.addr === addr) { c.kill(); return OK; }
    throw new ArgError('No such client');
  }
  if ((argv.length - 2) % 2 !== 0) throw new ArgError(SYNTAX);
  const filters: Array<(c: ClientView) => boolean> = [];
  let skipMe = true;
  for (let i = 2; i < argv.length; i += 2) {
    const v = argv[i + 1].toString();
    if (isKeyword(argv[i], 'ID')) { const id = parseInteger(argv[i + 1]); filters.push((c) => c.id === id); }
    else if (isKeyword(argv[i], 'ADDR')) filters.push((c) => c.addr === v);
    else if (isKeyword(argv[i], 'LADDR')) filters.push((c) => c.laddr === v);
    else if (isKeyword(argv[i], 'TYPE')) {
      const t = v.toLowerCase();
      if (!['normal', 'master', 'replica', 'slave', 'pubsub'].includes(t)) throw new ArgError(`Unknown client type '${v}'`);
      const want = t === 'slave' ? 'replica' : t;
      filters.push((c) => typeOf(c) === want);
    } else if (isKeyword(argv[i], 'USER')) filters.push(() => v === 'default');
    else if (isKeyword(argv[i], 'SKIPME')) {
      if (v.toLowerCase() === 'yes') skipMe = true; else if (v.toLowerCase() === 'no') skipMe = false; else throw new ArgError(SYNTAX);
    } else if (isKeyword(argv[i], 'MAXAGE')) { const age = parseInteger(argv[i + 1]); filters.push((c) => Date.now() - c.createdAt >= age * 1000); }
    else throw new ArgError(SYNTAX);
  }
  let killed = 0;
  for (const c of [...ctx.server.clients()]) {
    if (skipMe && c.id === ctx.client.id) continue;
    if (filters.every((f) => f(c))) {
      if (c.id === ctx.client.id) ctx.client.closeAfterReply = true; else c.kill();
      killed++;
    }
  }
  return killed;
}

function onOff(arg: Buffer): boolean {
  if (isKeyword(arg, 'ON')) return true;
  if (isKeyword(arg, 'OFF')) return false;
  throw new ArgError(SYNTAX);
}

const base = { firstKey: 0, lastKey: 0, step: 0, group: 'connection', since: '1.0.0' } as const;

const sub = subcommandBuilder('client', { ...base, flags: ['noscript', 'loading', 'stale'] });

export const connectionCommands: CommandSpec[] = [
  {
    ...base, name: 'ping', arity: -1, flags: ['fast'], summary: 'Returns the server\'s liveliness response.',
    arguments: [{ name: 'message', type: 'string', optional: true }],
    handler: (_ctx, argv) => {
      if (argv.length > 2) throw wrongArity('ping');
      return argv.length === 2 ? argv[1] : PONG;
    },
  },
  {
    ...base, name: 'echo', arity: 2, flags: ['fast'], summary: 'Returns the given string.',
    arguments: [{ name: 'message', type: 'string' }],
    handler: (_ctx, argv) => argv[1],
  },
  {
    ...base, name: 'hello', arity: -1, flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth'], since: '6.0.0',
    summary: 'Handshakes with the server: protocol version, authentication, client name.',
    arguments: [{
      name: 'arguments', type: 'block', optional: true, arguments: [
        { name: 'protover', type: 'integer' },
        { name: 'auth', type: 'block', token: 'AUTH', optional: true, arguments: [{ name: 'username', type: 'string' }, { name: 'password', type: 'string' }] },
        { name: 'clientname', type: 'string', token: 'SETNAME', optional: true },
      ],
    }],
    handler: hello,
  },
  {
    ...base, name: 'auth', arity: -2, flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth'],
    summary: 'Authenticates the connection.',
    arguments: [{ name: 'username', type: 'string', optional: true, since: '6.0.0' }, { name: 'password', type: 'string' }],
    handler: (ctx, argv) => {
      if (argv.length > 3) throw new ArgError(SYNTAX);
      authenticate(ctx, argv.length === 3 ? argv[1] : null, argv[argv.length - 1]);
      return OK;
    },
  },
  {
    ...base, name: 'select', arity: 2, flags: ['loading', 'stale', 'fast'], summary: 'Changes the selected database.',
    arguments: [{ name: 'index', type: 'integer' }],
    handler: (ctx, argv) => {
      let db: number;
      try { db = parseInteger(argv[1]); } catch { throw new ArgError(NOT_AN_INTEGER); }
      if (db < 0 || db >= ctx.server.keyspace.dbs.length) throw new ArgError('DB index is out of range');
      ctx.client.db = db;
      return OK;
    },
  },
  {
    ...base, name: 'quit', arity: -1, flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
    summary: 'Closes the connection.',
    handler: (ctx) => { ctx.client.closeAfterReply = true; return OK; },
  },
  {
    ...base, name: 'reset', arity: 1, flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'], since: '6.2.0',
    summary: 'Resets the connection: transaction, protocol, database, name, authentication.',
    handler: (ctx) => {
      const c = ctx.client;
      c.multi = null; c.multiDirty = false; c.proto = 2; c.db = 0; c.name = '';
      ctx.server.unwatch(c);
      ctx.server.releaseClient(c);
      c.noEvict = false; c.noTouch = false;
      c.authenticated = !ctx.server.config.requirepass;
      return new SimpleString('RESET');
    },
  },
  {
    ...base, name: 'client', arity: -2, flags: [], summary: 'A container for client connection commands.', since: '2.4.0',
    subcommands: [
      sub('id', 2, 'Returns the unique client ID of the connection.', (ctx) => ctx.client.id),
      sub('setname', 3, 'Sets the connection name.', (ctx, argv) => { setName(ctx.client, argv[2]); return OK; },
        { arguments: [{ name: 'connection-name', type: 'string' }] }),
      sub('getname', 2, 'Returns the name of the connection.', (ctx) => ctx.client.name === '' ? null : ctx.client.name),
      sub('setinfo', 4, 'Sets information specific to the client or connection.', (ctx, argv) => {
        const v = argv[3].toString();
        if (!validClientName(argv[3]) && v !== '') throw new ArgError(`${argv[2].toString()} cannot contain spaces, newlines or special characters.`);
        if (isKeyword(argv[2], 'LIB-NAME')) ctx.client.libName = v;
        else if (isKeyword(argv[2], 'LIB-VER')) ctx.client.libVer = v;
        else throw new ArgError(`Unrecognized option '${argv[2].toString('latin1').slice(0, 64)}'`);
        return OK;
      }, { arguments: [{ name: 'attr', type: 'oneof', arguments: [{ name: 'libname', type: 'string', token: 'LIB-NAME' }, { name: 'libver', type: 'string', token: 'LIB-VER' }] }] }),
      sub('info', 2, 'Returns information about the connection.', (ctx) => {
        const me = self(ctx);
        return new Verbatim('txt', me ? clientLine(me, ctx.server.describeClient(me)) + '\n' : '');
      }),
      sub('list', -2, 'Lists open connections.', (ctx, argv) => {
        let ids: Set<number> | null = null;
        let type: string | null = null;
        for (let i = 2; i < argv.length; i++) {
          if (isKeyword(argv[i], 'TYPE') && i + 1 < argv.length) {
            const t = argv[++i].toString().toLowerCase();
            if (!['normal', 'master', 'replica', 'slave', 'pubsub'].includes(t)) throw new ArgError(`Unknown client type '${t}'`);
            type = t === 'slave' ? 'replica' : t;
          } else if (isKeyword(argv[i], 'ID')) {
            ids = new Set();
            for (i++; i < argv.length; i++) ids.add(parseInteger(argv[i]));
          } else throw new ArgError(SYNTAX);
        }
        let out = '';
        for (const c of ctx.server.clients()) {
          if ((!ids || ids.has(c.id)) && (type === null || typeOf(c) === type)) out += clientLine(c, ctx.server.describeClient(c)) + '\n';
        }
        return new Verbatim('txt', out);
      }, { arguments: [{ name: 'client-type', type: 'string', token: 'TYPE', optional: true }, { name: 'client-id', type: 'integer', token: 'ID', optional: true, multiple: true }] }),
      sub('kill', -3, 'Terminates open connections.', clientKill, { flags: ['admin', 'noscript', 'loading', 'stale'],
        arguments: [{ name: 'filter', type: 'oneof', arguments: [{ name: 'ip:port', type: 'string' }, { name: 'client-id', type: 'integer', token: 'ID', optional: true }, { name: 'addr', type: 'string', token: 'ADDR', optional: true }, { name: 'skipme', type: 'string', token: 'SKIPME', optional: true }] }] }),
      sub('no-evict', 3, 'Sets the client eviction mode of the connection.', (ctx, argv) => { ctx.client.noEvict = onOff(argv[2]); return OK; },
        { arguments: [{ name: 'enabled', type: 'oneof', arguments: [{ name: 'on', type: 'pure-token', token: 'ON' }, { name: 'off', type: 'pure-token', token: 'OFF' }] }] }),
      sub('no-touch', 3, 'Controls whether commands sent by the client affect the LRU/LFU of accessed keys.', (ctx, argv) => { ctx.client.noTouch = onOff(argv[2]); return OK; },
        { arguments: [{ name: 'enabled', type: 'oneof', arguments: [{ name: 'on', type: 'pure-token', token: 'ON' }, { name: 'off', type: 'pure-token', token: 'OFF' }] }] }),
      sub('help', 2, 'Returns helpful text about the different subcommands.', () => helpReply('client', [
        'ID', 'GETNAME', 'SETNAME <name>', 'SETINFO <LIB-NAME|LIB-VER> <value>', 'INFO', 'LIST [TYPE normal] [ID id ...]',
        'KILL <ip:port> | KILL <option> <value> [...]', 'NO-EVICT (ON|OFF)', 'NO-TOUCH (ON|OFF)', 'HELP',
      ])),
    ],
  },
];
