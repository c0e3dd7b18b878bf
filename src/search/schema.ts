/**
 * FT.CREATE and FT.ALTER … SCHEMA ADD arguments → an index definition, with
 * RediSearch's error texts where the frameworks may match on them. Options
 * come in any order before SCHEMA; a field's options end at the first word
 * that is not one of its type's options (the next field's name), as in
 * RediSearch's own parser.
 */
import { RespError } from '../errors.js';
import type { Metric } from '../engine/vector-set.js';
import { VECTOR_TYPES, type VectorType } from './vector-blob.js';

export type FieldType = 'TAG' | 'NUMERIC' | 'TEXT' | 'VECTOR';

export interface VectorParams {
  algorithm: 'HNSW' | 'FLAT';
  type: VectorType;
  dim: number;
  metric: Metric;
  m: number;
  efConstruction: number;
  efRuntime: number;
  epsilon: number;
  initialCap: number;
  blockSize: number;
}

export interface FieldDef {
  /** The hash field, or the JSONPath for JSON. */
  identifier: string;
  /** The name queries use (`AS`), else the identifier. */
  attribute: string;
  type: FieldType;
  sortable: boolean;
  noindex: boolean;
  indexMissing: boolean;
  indexEmpty: boolean;
  separator: string;
  caseSensitive: boolean;
  weight: number;
  nostem: boolean;
  vector: VectorParams | null;
}

export interface IndexDef {
  name: string;
  on: 'HASH' | 'JSON';
  prefixes: string[];
  /** null: RediSearch's default list; [] after STOPWORDS 0. */
  stopwords: string[] | null;
  language: string;
  score: number;
  skipInitialScan: boolean;
  fields: FieldDef[];
}

const str = (b: Buffer): string => b.toString('utf8');
const upper = (b: Buffer | undefined): string => (b ? b.toString('latin1').toUpperCase() : '');

/** An argument as an error may quote it: short, one line, and never a vector's raw bytes. */
export function quote(b: Buffer | string | undefined, max = 48): string {
  if (b === undefined) return '';
  const s = typeof b === 'string' ? b : b.toString('utf8');
  let printable = true;
  for (let i = 0; i < s.length && printable; i++) { const c = s.charCodeAt(i); if (c < 0x20 || c === 0x7f || c === 0xfffd) printable = false; }
  if (!printable) return `<${typeof b === 'string' ? Buffer.byteLength(b) : b.length} bytes of binary data>`;
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

function positiveInt(b: Buffer | undefined, what: string): number {
  const s = b ? b.toString('latin1') : '';
  if (!/^\d+$/.test(s) || Number(s) > 2 ** 31) throw new FtError(`Bad arguments for ${what}: ${s === '' ? 'missing value' : `invalid value '${quote(s)}'`}`);
  return Number(s);
}

/** FT.CREATE idx [options] SCHEMA fields… (argv[0] is FT.CREATE). */
export function parseCreate(argv: Buffer[]): IndexDef {
  const def: IndexDef = { name: str(argv[1]), on: 'HASH', prefixes: [], stopwords: null, language: 'english', score: 1, skipInitialScan: false, fields: [] };
  let i = 2;
  for (; i < argv.length; i++) {
    const opt = upper(argv[i]);
    const need = (n: number): void => { if (i + n >= argv.length) throw new FtError(`Bad arguments for ${opt}: missing value`); };
    switch (opt) {
      case 'SCHEMA': break;
      case 'ON': {
        need(1);
        const t = upper(argv[++i]);
        if (t !== 'HASH' && t !== 'JSON') throw new FtError(`Invalid rule type '${quote(argv[i])}': ON takes HASH or JSON`);
        def.on = t;
        continue;
      }
      case 'PREFIX': {
        need(1);
        const n = positiveInt(argv[++i], 'PREFIX');
        if (i + n >= argv.length) throw new FtError('Bad arguments for PREFIX: fewer prefixes than announced');
        for (let j = 0; j < n; j++) def.prefixes.push(argv[++i].toString('latin1'));
        continue;
      }
      case 'STOPWORDS': {
        need(1);
        const n = positiveInt(argv[++i], 'STOPWORDS');
        if (i + n >= argv.length) throw new FtError('Bad arguments for STOPWORDS: fewer words than announced');
        def.stopwords = [];
        for (let j = 0; j < n; j++) def.stopwords.push(str(argv[++i]).toLowerCase());
        continue;
      }
      case 'LANGUAGE': need(1); def.language = str(argv[++i]).toLowerCase(); continue;
      case 'SCORE': {
        need(1);
        const v = Number(argv[++i].toString('latin1'));
        if (!(v >= 0 && v <= 1)) throw new FtError('Invalid score');
        def.score = v;
        continue;
      }
      case 'LANGUAGE_FIELD': case 'SCORE_FIELD': case 'PAYLOAD_FIELD': need(1); i++; continue;
      case 'MAXTEXTFIELDS': case 'NOOFFSETS': case 'NOHL': case 'NOFIELDS': case 'NOFREQS': continue;
      case 'SKIPINITIALSCAN': def.skipInitialScan = true; continue;
      case 'FILTER': throw new FtError('FT.CREATE … FILTER is not supported by Astronaut: use PREFIX to choose the documents');
      case 'TEMPORARY': throw new FtError('FT.CREATE … TEMPORARY is not supported by Astronaut');
      default: throw new FtError(`Unknown argument \`${quote(argv[i])}\``);
    }
    break;
  }
  if (i >= argv.length) throw new FtError('No schema found');
  if (i + 1 >= argv.length) throw new FtError('Fields arguments are missing');
  if (def.prefixes.length === 0) def.prefixes.push('');
  def.fields = parseFields(argv, i + 1, def.on, []);
  return def;
}

/** The fields from argv[start] on; `existing` are the index's current fields (FT.ALTER checks duplicates against them). */
export function parseFields(argv: Buffer[], start: number, on: 'HASH' | 'JSON', existing: readonly FieldDef[]): FieldDef[] {
  const out: FieldDef[] = [];
  const taken = new Set(existing.map((f) => f.attribute));
  let i = start;
  while (i < argv.length) {
    const identifier = on === 'JSON' ? str(argv[i]) : argv[i].toString('latin1');
    i++;
    let attribute = on === 'JSON' ? identifier : Buffer.from(identifier, 'latin1').toString('utf8');
    if (upper(argv[i]) === 'AS') {
      if (i + 1 >= argv.length) throw new FtError(`Bad arguments for AS: missing alias for field \`${quote(identifier)}\``);
      attribute = str(argv[i + 1]);
      i += 2;
    }
    if (on === 'JSON' && !identifier.startsWith('$')) throw new FtError(`Invalid JSONPath '${quote(identifier)}' in the schema: JSON fields are paths such as $.name`);
    const typeArg = argv[i];
    if (!typeArg) throw new FtError(`Field \`${quote(attribute)}\` has no type`);
    const type = upper(typeArg);
    i++;
    const f: FieldDef = {
      identifier, attribute, type: 'TEXT', sortable: false, noindex: false, indexMissing: false, indexEmpty: false,
      separator: ',', caseSensitive: false, weight: 1, nostem: false, vector: null,
    };
    switch (type) {
      case 'TEXT': case 'TAG': case 'NUMERIC': f.type = type; break;
      case 'VECTOR': f.type = 'VECTOR'; i = parseVector(argv, i, f); break;
      case 'GEO': case 'GEOSHAPE': throw new FtError(`Field \`${quote(attribute)}\`: ${type} fields are not supported by Astronaut`);
      default: throw new FtError(`Invalid field type for field \`${quote(attribute)}\``);
    }
    // The field's own options, until a word that is none of them (the next field).
    for (;;) {
      const o = upper(argv[i]);
      if (o === 'SORTABLE') { f.sortable = true; i++; if (upper(argv[i]) === 'UNF') i++; continue; }
      if (o === 'NOINDEX') { f.noindex = true; i++; continue; }
      if (o === 'INDEXMISSING') { f.indexMissing = true; i++; continue; }
      if (o === 'INDEXEMPTY') { f.indexEmpty = true; i++; continue; }
      if (o === 'WITHSUFFIXTRIE') { i++; continue; }
      if (f.type === 'TAG' && o === 'SEPARATOR') {
        const sep = argv[i + 1]?.toString('utf8') ?? '';
        if (sep.length !== 1) throw new FtError(`Tag separator must be a single character. Got \`${quote(sep)}\``);
        f.separator = sep; i += 2; continue;
      }
      if (f.type === 'TAG' && o === 'CASESENSITIVE') { f.caseSensitive = true; i++; continue; }
      if (f.type === 'TEXT' && o === 'WEIGHT') {
        const w = Number(argv[i + 1]?.toString('latin1'));
        if (!(w >= 0) || !Number.isFinite(w)) throw new FtError(`Could not parse field spec: invalid WEIGHT for field \`${quote(attribute)}\``);
        f.weight = w; i += 2; continue;
      }
      if (f.type === 'TEXT' && o === 'NOSTEM') { f.nostem = true; i++; continue; }
      if (f.type === 'TEXT' && o === 'PHONETIC') { i += 2; continue; }
      break;
    }
    if (taken.has(f.attribute)) throw new FtError(`Duplicate field in schema - ${quote(f.attribute)}`);
    taken.add(f.attribute);
    out.push(f);
  }
  if (out.length === 0) throw new FtError('Fields arguments are missing');
  return out;
}

const METRIC_NAMES: Record<string, Metric> = { COSINE: 'COSINE', L2: 'L2', IP: 'IP' };

function parseVector(argv: Buffer[], i: number, f: FieldDef): number {
  const algo = upper(argv[i]);
  if (algo !== 'HNSW' && algo !== 'FLAT') {
    throw new FtError(`Bad arguments for vector similarity algorithm: \`${quote(argv[i])}\` (expected HNSW or FLAT)`);
  }
  const what = `vector similarity ${algo} index`;
  const nargs = positiveInt(argv[i + 1], `vector similarity number of parameters`);
  if (nargs % 2 !== 0) throw new FtError(`Bad number of arguments for vector similarity index: got ${nargs} but expected an even number`);
  if (i + 2 + nargs > argv.length) throw new FtError(`Bad arguments for vector similarity number of parameters: Expected ${nargs} parameters but got ${argv.length - i - 2}`);
  const v: VectorParams = {
    algorithm: algo, type: 'FLOAT32', dim: 0, metric: 'COSINE', m: 16, efConstruction: 200, efRuntime: 10, epsilon: 0.01,
    initialCap: 0, blockSize: 1024,
  };
  let haveType = false, haveMetric = false;
  for (let j = i + 2; j < i + 2 + nargs; j += 2) {
    const key = upper(argv[j]);
    const val = argv[j + 1];
    switch (key) {
      case 'TYPE': {
        const t = upper(val) as VectorType;
        if (!VECTOR_TYPES.includes(t)) throw new FtError(`Bad arguments for vector similarity ${algo} index type: \`${quote(val)}\` is not supported (FLOAT32, FLOAT64, FLOAT16, BFLOAT16)`);
        v.type = t; haveType = true; break;
      }
      case 'DIM': v.dim = positiveInt(val, `${what} dim`); break;
      case 'DISTANCE_METRIC': {
        const metric = METRIC_NAMES[upper(val)];
        if (!metric) throw new FtError(`Bad arguments for vector similarity ${algo} index metric: \`${quote(val)}\` (expected COSINE, L2 or IP)`);
        v.metric = metric; haveMetric = true; break;
      }
      case 'INITIAL_CAP': v.initialCap = positiveInt(val, `${what} initial cap`); break;
      case 'BLOCK_SIZE': v.blockSize = positiveInt(val, `${what} block size`); break;
      case 'M': if (algo !== 'HNSW') throw bad(algo, key); v.m = positiveInt(val, `${what} M`); break;
      case 'EF_CONSTRUCTION': if (algo !== 'HNSW') throw bad(algo, key); v.efConstruction = positiveInt(val, `${what} efConstruction`); break;
      case 'EF_RUNTIME': if (algo !== 'HNSW') throw bad(algo, key); v.efRuntime = positiveInt(val, `${what} efRuntime`); break;
      case 'EPSILON': {
        if (algo !== 'HNSW') throw bad(algo, key);
        const e = Number(val?.toString('latin1'));
        if (!(e > 0) || !Number.isFinite(e)) throw new FtError(`Bad arguments for ${what} epsilon`);
        v.epsilon = e; break;
      }
      default: throw bad(algo, key);
    }
  }
  if (!haveType) throw new FtError(`Missing mandatory parameter: cannot create ${algo} index without specifying TYPE argument`);
  if (v.dim === 0) throw new FtError(`Missing mandatory parameter: cannot create ${algo} index without specifying DIM argument`);
  if (!haveMetric) throw new FtError(`Missing mandatory parameter: cannot create ${algo} index without specifying DISTANCE_METRIC argument`);
  if (v.dim > 65536) throw new FtError(`Bad arguments for ${what} dim: ${v.dim} is more than the 65536 allowed`);
  if (v.m < 2 || v.m > 1024) throw new FtError(`Bad arguments for ${what} M: must be between 2 and 1024`);
  if (v.efConstruction < 1 || v.efRuntime < 1) throw new FtError(`Bad arguments for ${what}: EF values must be positive`);
  f.vector = v;
  return i + 2 + nargs;
}

function bad(algo: string, key: string): FtError {
  return new FtError(`Bad arguments for algorithm ${algo}: ${quote(key)}`);
}

/**
 * RediSearch's errors carry no `ERR` code: the line is the text itself
 * (`-Unknown Index name`, `-Syntax error at offset 3 near x`), and some
 * clients compare it whole. Its first word stands as the code in errorstats.
 */
export class FtError extends RespError {
  constructor(private readonly text: string) {
    const sp = text.indexOf(' ');
    super(sp < 0 ? text : text.slice(0, sp), sp < 0 ? '' : text.slice(sp + 1));
  }
  override line(): string { return this.text; }
}
