/**
 * Keyspace notifications (Redis's notify.c): each keyspace event whose class
 * `notify-keyspace-events` enables is published as
 *   `__keyspace@<db>__:<key>` → the event name   (K)
 *   `__keyevent@<db>__:<event>` → the key        (E)
 * Off by default, and then an event costs one array lookup; on, an event
 * nobody is subscribed to costs nothing more either.
 */
import { KEYSPACE_EVENT_CLASSES } from '../config.js';
import type { Hub } from './hub.js';

export class Notifications {
  private keyspace = false;
  private keyevent = false;
  /** By class letter's char code: 1 when its events are published (all 0 unless K or E is on). */
  private readonly classes = new Uint8Array(128);

  constructor(private readonly hub: Hub) {}

  /** Apply the option's canonical text (config.ts validated it). */
  configure(flags: string): void {
    this.keyspace = flags.includes('K');
    this.keyevent = flags.includes('E');
    this.classes.fill(0);
    if (!this.keyspace && !this.keyevent) return;
    const letters = flags.replace('A', KEYSPACE_EVENT_CLASSES);
    for (const c of letters) if (c !== 'K' && c !== 'E') this.classes[c.charCodeAt(0) & 127] = 1;
  }

  emit(db: number, cls: string, event: string, key: Buffer | string): void {
    if (this.classes[cls.charCodeAt(0) & 127] === 0 || this.hub.idle) return;
    const name = typeof key === 'string' ? key : key.toString('latin1');
    if (this.keyspace) this.hub.publish(`__keyspace@${db}__:${name}`, Buffer.from(event));
    if (this.keyevent) this.hub.publish(`__keyevent@${db}__:${event}`, typeof key === 'string' ? Buffer.from(key, 'latin1') : key);
  }
}
