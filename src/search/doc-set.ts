/**
 * A set of document numbers as a bitmap of 32-bit words. A query's filter is
 * evaluated into one of these: AND, OR and NOT are word loops, so even a
 * million-document index combines clauses in well under a millisecond, and
 * the KNN step turns the result into the vector set's own slot bitmap.
 */
export class DocSet {
  words: Uint32Array;

  constructor(capacity: number, words?: Uint32Array) {
    this.words = words ?? new Uint32Array((capacity + 31) >>> 5);
  }

  get capacity(): number { return this.words.length << 5; }

  has(doc: number): boolean {
    const w = doc >>> 5;
    return w < this.words.length && (this.words[w] & (1 << (doc & 31))) !== 0;
  }

  add(doc: number): void {
    const w = doc >>> 5;
    if (w >= this.words.length) this.grow(w + 1);
    this.words[w] |= 1 << (doc & 31);
  }

  delete(doc: number): void {
    const w = doc >>> 5;
    if (w < this.words.length) this.words[w] &= ~(1 << (doc & 31));
  }

  private grow(words: number): void {
    const next = new Uint32Array(Math.max(words, this.words.length * 2, 8));
    next.set(this.words);
    this.words = next;
  }

  clone(): DocSet { return new DocSet(0, this.words.slice()); }

  /** this ∧ other, in place. */
  and(other: DocSet): this {
    const a = this.words, b = other.words;
    for (let i = 0; i < a.length; i++) a[i] &= i < b.length ? b[i] : 0;
    return this;
  }

  /** this ∨ other, in place. */
  or(other: DocSet): this {
    if (other.words.length > this.words.length) this.grow(other.words.length);
    const a = this.words, b = other.words;
    for (let i = 0; i < b.length; i++) a[i] |= b[i];
    return this;
  }

  /** this ∧ ¬other, in place. */
  andNot(other: DocSet): this {
    const a = this.words, b = other.words;
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) a[i] &= ~b[i];
    return this;
  }

  count(): number {
    let n = 0;
    const a = this.words;
    for (let i = 0; i < a.length; i++) {
      let v = a[i];
      if (v === 0) continue;
      v = v - ((v >>> 1) & 0x55555555);
      v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
      n += (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
    }
    return n;
  }

  /** Every member, ascending. */
  *[Symbol.iterator](): IterableIterator<number> {
    const a = this.words;
    for (let i = 0; i < a.length; i++) {
      let v = a[i];
      while (v !== 0) {
        const low = v & -v;
        yield (i << 5) + (31 - Math.clz32(low));
        v ^= low;
      }
    }
  }
}
