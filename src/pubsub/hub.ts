/**
 * Who is subscribed to what, and the delivery of published messages. Three
 * namespaces, as in non-cluster Redis 7: channels, patterns (glob-style, as
 * KEYS matches), and shard channels (SSUBSCRIBE/SPUBLISH), which never see
 * the other two's messages.
 *
 * Names are kept as latin1 strings, one char per byte, so binary channel names
 * round-trip exactly and map lookups stay cheap. Sets keep insertion order,
 * which is the order UNSUBSCRIBE without arguments answers in.
 *
 * A published message is encoded once per protocol version, not once per
 * subscriber: a channel with 10 000 subscribers costs 10 000 copies of the
 * same bytes into their output buffers.
 */
import { ErrorReply, Push, RawReply, type Reply } from '../../protocol/reply.js';
import { ReplyEncoder } from '../../protocol/encoder.js';
import { globMatch } from '../core/glob.js';
import { wrongArity } from '../core/command-table.js';
import type { ClientMode, ClientState, CommandSpec } from '../core/types.js';

export type Namespace = 'channel' | 'pattern' | 'shard';

/** One client's subscriptions. */
export interface Subscriber {
  readonly client: ClientState;
  readonly channels: Set<string>;
  readonly patterns: Set<string>;
  readonly shards: Set<string>;
}

const SUBSCRIBE_REPLY = { channel: 'subscribe', pattern: 'psubscribe', shard: 'ssubscribe' } as const;
const UNSUBSCRIBE_REPLY = { channel: 'unsubscribe', pattern: 'punsubscribe', shard: 'sunsubscribe' } as const;

/** What a RESP2 subscriber may still run (Redis's processCommand). */
const ALLOWED_WHILE_SUBSCRIBED = new Set(['subscribe', 'unsubscribe', 'psubscribe', 'punsubscribe', 'ssubscribe', 'sunsubscribe', 'ping', 'quit', 'reset']);
const EMPTY = Buffer.alloc(0);
const PONG = Buffer.from('pong');

/**
 * RESP2 subscriber mode: the connection carries messages, so only commands
 * whose replies a subscriber can tell apart from them may run. RESP3 clients
 * tell pushes from replies by their type and may run anything.
 */
const SUBSCRIBED: ClientMode = {
  type: 'pubsub',
  answer(client: ClientState, spec: CommandSpec, argv: Buffer[]): Reply | undefined {
    if (client.proto !== 2) return undefined;
    if (spec.name === 'ping') {
      if (argv.length > 2) return new ErrorReply(wrongArity('ping').line());
      return [PONG, argv.length === 2 ? argv[1] : EMPTY];
    }
    if (ALLOWED_WHILE_SUBSCRIBED.has(spec.name)) return undefined;
    return new ErrorReply(`ERR Can't execute '${spec.name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`);
  },
};

/** Encodes the frames of one (un)subscribe reply; `take()` output is never overwritten, so it may be kept. */
const frames = new ReplyEncoder(1024);

/** One message, encoded at most once per protocol version. */
class Message {
  private resp2: RawReply | null = null;
  private resp3: RawReply | null = null;
  constructor(private readonly items: Reply[]) {}
  as(proto: 2 | 3): RawReply {
    if (proto === 2) return this.resp2 ??= encodeOnce(new Push(this.items), 2);
    return this.resp3 ??= encodeOnce(new Push(this.items), 3);
  }
}

function encodeOnce(reply: Reply, proto: 2 | 3): RawReply {
  frames.write(reply, proto);
  return new RawReply(frames.take());
}

const bytes = (name: string): Buffer => Buffer.from(name, 'latin1');

export class Hub {
  private readonly channels = new Map<string, Set<Subscriber>>();
  private readonly patterns = new Map<string, Set<Subscriber>>();
  private readonly shards = new Map<string, Set<Subscriber>>();
  private readonly subscribers = new Map<ClientState, Subscriber>();

  /** Nobody subscribed to any channel or pattern: publishing costs nothing. */
  get idle(): boolean { return this.channels.size === 0 && this.patterns.size === 0; }
  get channelCount(): number { return this.channels.size; }
  get patternCount(): number { return this.patterns.size; }
  get shardChannelCount(): number { return this.shards.size; }

  subscriberOf(client: ClientState): Subscriber | undefined { return this.subscribers.get(client); }

  /** Subscribed to anything (Redis's CLIENT_PUBSUB flag). */
  isSubscribed(client: ClientState): boolean { return this.subscribers.has(client); }

  private table(ns: Namespace): Map<string, Set<Subscriber>> {
    return ns === 'channel' ? this.channels : ns === 'pattern' ? this.patterns : this.shards;
  }

  private own(s: Subscriber, ns: Namespace): Set<string> {
    return ns === 'channel' ? s.channels : ns === 'pattern' ? s.patterns : s.shards;
  }

  /** The count a (un)subscribe reply carries: shard channels count apart, as in Redis 7.0. */
  private count(s: Subscriber | undefined, ns: Namespace): number {
    if (!s) return 0;
    return ns === 'shard' ? s.shards.size : s.channels.size + s.patterns.size;
  }

  /** SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE: one reply frame per name, as the client expects them. */
  subscribe(client: ClientState, ns: Namespace, names: Buffer[]): RawReply {
    let s = this.subscribers.get(client);
    if (!s) {
      s = { client, channels: new Set(), patterns: new Set(), shards: new Set() };
      this.subscribers.set(client, s);
      client.mode = SUBSCRIBED;
    }
    const own = this.own(s, ns);
    const table = this.table(ns);
    for (const arg of names) {
      const name = arg.toString('latin1');
      if (!own.has(name)) {
        own.add(name);
        let set = table.get(name);
        if (!set) { set = new Set(); table.set(name, set); }
        set.add(s);
      }
      frames.write(new Push([SUBSCRIBE_REPLY[ns], arg, this.count(s, ns)]), client.proto);
    }
    return new RawReply(frames.take());
  }

  /** UNSUBSCRIBE and kin; without names, from everything in that namespace (one frame with a null name if nothing). */
  unsubscribe(client: ClientState, ns: Namespace, names: Buffer[]): RawReply {
    const s = this.subscribers.get(client);
    const list = names.length > 0 ? names.map((n) => n.toString('latin1')) : s ? [...this.own(s, ns)] : [];
    for (const name of list) {
      if (s) this.drop(s, ns, name);
      frames.write(new Push([UNSUBSCRIBE_REPLY[ns], bytes(name), this.count(s, ns)]), client.proto);
    }
    if (list.length === 0) frames.write(new Push([UNSUBSCRIBE_REPLY[ns], null, this.count(s, ns)]), client.proto);
    if (s) this.settle(s);
    return new RawReply(frames.take());
  }

  private drop(s: Subscriber, ns: Namespace, name: string): void {
    if (!this.own(s, ns).delete(name)) return;
    const table = this.table(ns);
    const set = table.get(name);
    if (!set) return;
    set.delete(s);
    if (set.size === 0) table.delete(name);
  }

  /** Out of subscriber mode once subscribed to nothing. */
  private settle(s: Subscriber): void {
    if (s.channels.size + s.patterns.size + s.shards.size > 0) return;
    this.subscribers.delete(s.client);
    if (s.client.mode === SUBSCRIBED) s.client.mode = null;
  }

  /** A closed or RESET client: gone from every namespace, silently. */
  release(client: ClientState): void {
    const s = this.subscribers.get(client);
    if (!s) return;
    for (const ns of ['channel', 'pattern', 'shard'] as const) for (const name of [...this.own(s, ns)]) this.drop(s, ns, name);
    this.settle(s);
  }

  /**
   * PUBLISH: to the channel's subscribers, then to every client per pattern
   * of its that matches. Returns the receivers counted as Redis counts them
   * (a client matched by two patterns counts twice).
   */
  publish(channel: string, message: Buffer, channelBytes?: Buffer): number {
    let n = 0;
    let name = channelBytes;
    const subs = this.channels.get(channel);
    if (subs) {
      name ??= bytes(channel);
      const m = new Message(['message', name, message]);
      for (const s of subs) { s.client.deliver?.(m.as(s.client.proto)); n++; }
    }
    if (this.patterns.size > 0) {
      for (const [pattern, set] of this.patterns) {
        if (!globMatch(pattern, channel)) continue;
        name ??= bytes(channel);
        const m = new Message(['pmessage', bytes(pattern), name, message]);
        for (const s of set) { s.client.deliver?.(m.as(s.client.proto)); n++; }
      }
    }
    return n;
  }

  /** SPUBLISH: shard channels only. */
  publishShard(channel: Buffer, message: Buffer): number {
    const subs = this.shards.get(channel.toString('latin1'));
    if (!subs) return 0;
    const m = new Message(['smessage', channel, message]);
    for (const s of subs) s.client.deliver?.(m.as(s.client.proto));
    return subs.size;
  }

  /** PUBSUB CHANNELS / SHARDCHANNELS: names with a subscriber, matching `pattern` if given. */
  active(ns: 'channel' | 'shard', pattern: string | null): Buffer[] {
    const out: Buffer[] = [];
    for (const name of this.table(ns).keys()) if (pattern === null || globMatch(pattern, name)) out.push(bytes(name));
    return out;
  }

  /** PUBSUB NUMSUB / SHARDNUMSUB: subscribers of one name (patterns not counted). */
  subscribersOf(ns: 'channel' | 'shard', name: Buffer): number {
    return this.table(ns).get(name.toString('latin1'))?.size ?? 0;
  }
}
