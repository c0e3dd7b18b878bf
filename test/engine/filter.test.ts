import test from 'ava';
import fc from 'fast-check';
import { ArgError } from '../../src/errors.js';
import { compileFilter } from '../../src/engine/filter.js';

/** The payload most table rows run against. */
const DOC = JSON.stringify({
  c: 7, even: true, odd: false, year: 1990, genre: 'drama', name: 'Ann', tags: ['a', 'b'], nums: [1, 2, 3],
  mixed: [1, 'x', true, null], bools: [true, false], empty_arr: [], nested: [[1]], withobj: [1, { a: 1 }],
  obj: { x: 1 }, nil: null, zero: 0, empty: '', numstr: '42', fstr: '1.5', expstr: '1e3', junkstr: '12abc',
  spacestr: ' 12', trailstr: '12 ', hexstr: '0x10', infstr: 'inf', neg: -3, f: 2.5, q: "it's",
  quote: 'say "hi"', nl: 'a\nb', bs: 'a\\b', uni: 'é', emoji: '😀', 'dash-name': 1, under_score: 2,
  '9lives': 9, big: 1e300, UPPER: 5,
});

function run(expr: string, attrs: string | null | undefined = DOC): boolean {
  return compileFilter(expr).matches(attrs);
}

/** [expression, expected against DOC, what the row shows] */
const TABLE: [string, boolean, string][] = [
  // precedence: () · ! not · ** (right) · * / % · + - · comparisons, in · and && · or ||
  ['1 + 2 * 3 == 7', true, '* over +'],
  ['(1 + 2) * 3 == 9', true, 'parentheses'],
  ['2 ** 3 ** 2 == 512', true, '** is right-associative'],
  ['(2 ** 3) ** 2 == 64', true, 'parenthesised **'],
  ['2 * 3 ** 2 == 18', true, '** over *'],
  ['-2 ** 2 == 4', true, 'unary minus belongs to the literal'],
  ['2 ** -1 == 0.5', true, 'negative literal exponent'],
  ['10 - 2 - 3 == 5', true, '- is left-associative'],
  ['100 / 10 / 5 == 2', true, '/ is left-associative'],
  ['7 % 4 * 2 == 6', true, '% and * share a level, left to right'],
  ['2 * 7 % 4 == 2', true, '* then %'],
  ['1 + 2 > 2', true, '+ over >'],
  ['1 < 2 == 1', true, 'comparisons share a level: (1 < 2) == 1'],
  ['3 > 2 > 1', false, '(3 > 2) > 1 is 1 > 1'],
  ['1 == 1 == 1', true, '(1 == 1) == 1'],
  ['not 0 == 1', true, 'not binds tighter than ==: (not 0) == 1'],
  ['! 1 == 0', true, '(!1) == 0'],
  ['not 1 + 1 == 1', true, '(not 1) + 1 == 1'],
  ['!2 ** 2 == 0', true, '! binds tighter than **'],
  ['not (1 == 2)', true, 'not over a parenthesised comparison'],
  ['1 or 0 and 0', true, 'and over or'],
  ['(1 or 0) and 0', false, 'parenthesised or'],
  ['0 and 1 or 1', true, '(0 and 1) or 1'],
  ['1 || 0 && 0', true, '&& over ||'],
  ['.c + 1 in [8, 9]', true, '+ over in'],
  ['1 in [1] == 1', true, 'in and == share a level'],
  ['!!.c', true, 'double !'],
  ['not not .c', true, 'double not'],
  ['!!0', false, '!!0'],
  ['1 + (2 * (3 + 4)) == 15', true, 'nested parentheses'],
  ['((((.c))))', true, 'deep parentheses'],

  // every comparison
  ['.c == 7', true, '=='], ['.c != 7', false, '!='], ['.c != 8', true, '!= true'],
  ['.c > 6', true, '>'], ['.c > 7', false, '> false'], ['.c >= 7', true, '>='], ['.c >= 8', false, '>= false'],
  ['.c < 8', true, '<'], ['.c < 7', false, '< false'], ['.c <= 7', true, '<='], ['.c <= 6', false, '<= false'],
  ['6 < .c', true, 'field on the right'], ['7 == .c', true, 'constant on the left'],
  ['.c == .c', true, 'field == field'], ['.c > .year', false, 'field > field'],
  ['.c==7', true, 'no spaces'], ['.c==-7', false, '== then a negative literal'], ['.c!=-7', true, '!= -7'],
  ['.neg == -3', true, 'negative field'], ['.neg < -2', true, '< negative'],
  ['-1 < 0', true, 'negative literal first'],

  // arithmetic
  ['.c + 1 == 8', true, '+'], ['.c - 10 == -3', true, '-'], ['.c * 2 == 14', true, '*'],
  ['.c / 2 == 3.5', true, '/'], ['.c % 4 == 3', true, '%'], ['.c ** 2 == 49', true, '**'],
  ['2--3 == 5', true, 'binary minus then a negative literal'],
  ['.c-1 == 6', false, '.c-1 is the field "c-1" (missing), not .c - 1'],
  ['.c - 1 == 6', true, 'spaces make it a subtraction'],
  ['-7 % 4 == -3', true, '% keeps the dividend sign (fmod)'],
  ['7.5 % 2 == 1.5', true, 'fractional %'],
  ['1 / 0 > 1e308', true, 'division by zero is infinity'],
  ['0 / 0', true, 'NaN is not 0, so true'],
  ['0 / 0 == 0 / 0', false, 'NaN equals nothing'],
  ['(0 / 0) > 0', false, 'NaN compares false'],
  ['not (0 / 0)', false, 'not NaN'],
  ['2 ** 0.5 > 1.41', true, 'fractional power'],
  ['1 ** (0 / 0) == 1', true, "C pow(1, NaN) is 1"],
  ['.big * .big > 1e308', true, 'overflow to infinity'],
  ['.f * 2 == 5', true, 'fractional field'],

  // logic
  ['.c and .year', true, 'and'], ['.c and .zero', false, 'and false'], ['.c && .zero', false, '&&'],
  ['.zero or .c', true, 'or'], ['.zero or .empty', false, 'or false'], ['.zero || .c', true, '||'],
  ['not .zero', true, 'not'], ['!.c', false, '!'], ['(.c > 1) + (.year > 1) == 2', true, 'booleans are 1/0'],
  ['.c > 1 and .c < 10 and .genre == "drama" and .year == 1990', true, 'chained and'],
  ['.c == 1 or .c == 2 or .c == 7', true, 'chained or'],
  ['.zero or .c and .zero or .zero', false, 'or chain around an and'], ['.zero or .c and .c or .zero', true, 'and inside or'],
  ['.c and .zero or .c and .c', true, 'two and groups'], ['.c and .zero or .zero and .c', false, 'two false and groups'],
  ['(.zero or .c) and (.c or .zero)', true, 'parenthesised chains'], ['(.c or .zero) or .zero', true, 'extended chain'],
  ['.c == 1 or (.c == 7 and .genre == "drama")', true, 'or over a parenthesised and'],

  // in
  ['"a" in .tags', true, 'tuple membership'], ['"c" in .tags', false, 'not a member'],
  ['2 in .nums', true, 'number member'], ['"2" in .nums', true, 'mixed types compare as numbers'],
  ['"dra" in .genre', true, 'substring'], ['"x" in .genre', false, 'not a substring'],
  ['"" in .genre', true, 'the empty string is in every string'], ['.genre in "melodrama"', true, 'field as needle'],
  ['7 in .c', false, 'in on two numbers is false'], ['"7" in .c', false, 'string in number is false'],
  ['1 in .mixed', true, 'number in a mixed tuple'], ['"x" in .mixed', true, 'string in a mixed tuple'],
  ['null in .mixed', true, 'null in a tuple'], ['null in .nums', false, 'null is not 0'],
  ['0 in .mixed', true, '"x" converts to 0'],
  ['1 in .bools', true, 'JSON true in an array is 1'], ['0 in .bools', true, 'JSON false in an array is 0'],
  ['1 in .empty_arr', false, 'empty array'], ['.empty_arr', true, 'an empty tuple is still true'],
  ['.genre in ["drama", "comedy"]', true, 'literal tuple'], ['.genre in ["comedy"]', false, 'literal tuple miss'],
  ['.year in [1990, 2000]', true, 'number tuple'], ['.c in []', false, 'empty literal tuple'],
  ['null in [-1, 2.5, null]', true, 'null in a literal tuple'], ['-1 in [-1, 2.5, null]', true, 'negative member'],
  ['2 in [1, 2,]', true, 'trailing comma'], ['"b" in [\'a\', "b"]', true, 'both quote styles in a tuple'],
  ['.c in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]', true, 'long tuple (set lookup)'],
  ['.c in [1, 2, 3, 4, 5, 6, 8, 9, 10]', false, 'long tuple miss'],
  ['.c in ["1", "2", "3", "4", "5", "6", "7", "8", "9"]', true, 'long tuple: number vs numeric strings'],
  ['.numstr in [40, 41, 42, 43, 44, 45, 46, 47, 48]', true, 'long tuple: numeric string vs numbers'],
  ['.genre in ["a", "b", "c", "d", "e", "f", "g", "h", "drama"]', true, 'long string tuple'],
  ['.name in [1, 2, 3, 4, 5, 6, 7, 8, 9]', false, 'long tuple: "Ann" is 0'],
  ['.name in [0, 2, 3, 4, 5, 6, 7, 8, 9]', true, 'long tuple: "Ann" is 0, found'],
  ['.nil in [null, 1, 2, 3, 4, 5, 6, 7, 8]', true, 'long tuple: null'],
  ['.nil in [0, 1, 2, 3, 4, 5, 6, 7, 8]', false, 'long tuple: null is not 0'],
  ['(0/0) in [0, 1, 2, 3, 4, 5, 6, 7, 8]', false, 'long tuple: NaN'],

  // type conversions
  ['.even == 1', true, 'true is 1'], ['.odd == 0', true, 'false is 0'], ['.even', true, 'true is true'],
  ['.odd', false, 'false is false'], ['.even + .even == 2', true, 'booleans add'],
  ['.nil == null', true, 'null == null'], ['.nil != null', false, 'null != null'], ['.nil == 0', false, 'null is not 0'],
  ['null == null', true, 'literal null'], ['0 == null', false, '0 == null'], ['"" == null', false, '"" == null'],
  ['.nil', false, 'null is false'], ['not .nil', true, 'not null'], ['.nil + 1 == 1', true, 'null is 0 in arithmetic'],
  ['.nil < 1', true, 'null is 0 in comparisons'],
  ['.numstr == 42', true, 'numeric string == number'], ['.numstr > 41', true, 'numeric string in >'],
  ['.numstr + 1 == 43', true, 'numeric string in +'], ['.fstr * 2 == 3', true, 'decimal string'],
  ['.expstr == 1000', true, 'exponent string'], ['.junkstr == 0', true, '"12abc" is 0'],
  ['.junkstr > 0', false, '"12abc" is not 12'], ['.spacestr == 12', true, "leading space (strtod skips it)"],
  ['.trailstr == 0', true, 'trailing space makes it non-numeric'], ['.hexstr == 0', true, 'hex is not a number'],
  ['.infstr == 0', true, '"inf" is not a number'],
  ['.name == 0', true, 'a non-numeric string is 0'], ['.name < 1', true, 'a non-numeric string is 0 in <'],
  ['"b" > "a"', false, 'no lexicographic order'], ['"abc" < "abd"', false, 'no lexicographic <'],
  ['"10" > "9"', true, 'strings compare as numbers'],
  ['"42" == "42.0"', false, 'two strings compare bytes'], ['42 == "42.0"', true, 'mixed compares numbers'],
  ['.genre == "drama"', true, 'string =='], ['.genre == "Drama"', false, 'case-sensitive'],
  ['.genre != "x"', true, 'string !='], ['.genre == .genre', true, 'field string == field string'],
  ['.tags == ["a", "b"]', true, 'tuples compare element by element'], ['.tags == ["a"]', false, 'tuple length'],
  ['.tags == ["b", "a"]', false, 'tuple order'], ['.tags == 0', true, 'a tuple is 0 against a scalar'],
  ['.tags + 1 == 1', true, 'a tuple is 0 in arithmetic'], ['.tags', true, 'a tuple is true'],
  ['.uni == "é"', true, 'UTF-8'], ['.uni == "\\u00e9"', true, '\\u escape'], ['.emoji == "😀"', true, 'astral'],
  ['.UPPER == 5', true, 'field names are case-sensitive'], ['.upper == 5', false, 'missing in lowercase'],

  // truthiness of the whole expression
  ['0', false, '0'], ['""', false, '""'], ["''", false, "''"], ['null', false, 'null'], ['"0"', true, '"0"'],
  ['0.0', false, '0.0'], ['-0', false, '-0'], ['1', true, '1'], ['"a"', true, '"a"'], ['[]', true, '[]'],
  ['.empty', false, 'empty string field'], ['.zero', false, 'zero field'], ['.name', true, 'string field'],

  // a missing field, an object or a nested array: the whole expression is false
  ['.missing == 1', false, 'missing'], ['not .missing', false, 'not missing'],
  ['.missing or 1', false, 'missing or true'], ['1 or .missing', false, 'true or missing'],
  ['not (.missing == 1)', false, 'not over missing'], ['.c == 7 or .missing == 1', false, 'or with missing'],
  ['.missing == null', false, 'missing is not null'], ['.obj == 1', false, 'object'], ['not .obj', false, 'not object'],
  ['.obj or 1', false, 'object under or'], ['.nested', false, 'nested array'], ['1 or .nested', false, 'nested under or'],
  ['1 in .withobj', false, 'array holding an object'], ['not not .missing', false, 'not not missing'],
  ['.constructor', false, 'inherited members are missing'], ['not .toString', false, 'inherited, under not'],
  ['not .__proto__', false, '__proto__ is missing'], ['.hasOwnProperty or 1', false, 'inherited under or'],

  // literals and escapes
  [".q == 'it\\'s'", true, "\\' in a single-quoted string"], ['.q == "it\'s"', true, "' inside double quotes"],
  ['.quote == "say \\"hi\\""', true, '\\" in a double-quoted string'], [".quote == 'say \"hi\"'", true, '" inside single quotes'],
  ['.nl == "a\\nb"', true, '\\n'], ['.bs == "a\\\\b"', true, '\\\\'], ['"\\x" == "x"', true, 'other escapes keep the char'],
  ['"\\t" == "\t"', true, '\\t'], ['"a\\/b" == "a/b"', true, '\\/'],
  ['1.5e1 == 15', true, 'exponent'], ['1E1 == 10', true, 'capital E'], ['1e-1 == 0.1', true, 'negative exponent'],
  ['1e+1 == 10', true, 'explicit + exponent'], ['5. == 5', true, 'trailing dot'], ['007 == 7', true, 'leading zeros'],
  ['.9lives == 9', true, 'field starting with a digit'], ['.dash-name == 1', true, '- in a field name'],
  ['.under_score == 2', true, '_ in a field name'],
  ['  .c   ==\t7\n', true, 'whitespace'],
];

for (const [expr, expected, what] of TABLE) {
  test(`${what}: ${expr} → ${expected}`, (t) => {
    t.is(run(expr), expected);
    // matchesValue on the parsed payload agrees with matches on its text.
    t.is(compileFilter(expr).matchesValue(JSON.parse(DOC)), expected);
  });
}

test('__proto__ as a real key is an ordinary field', (t) => {
  t.true(run('.__proto__ == 5', '{"__proto__": 5}'));
  t.false(run('.__proto__ == 5', '{"a": 5}'));
});

test('payload without a value, bad JSON or not an object: no match', (t) => {
  const f = compileFilter('.c == 7');
  t.true(f.matches('{"c":7}'));
  t.false(f.matches(null));
  t.false(f.matches(undefined));
  t.false(f.matches(''));
  t.false(f.matches('{"c": 7'));
  t.false(f.matches('not json'));
  t.false(f.matches('{"c": 7}}'));
  t.false(f.matches('7'));
  t.false(f.matches('[7]'));
  t.false(f.matches('null'));
  t.false(compileFilter('.length == 1').matches('[7]'));
  t.false(compileFilter('.0 == 7').matches('[7]'));
  t.false(f.matchesValue(undefined));
  t.false(f.matchesValue(null));
  t.false(f.matchesValue([7]));
  t.false(f.matchesValue('{"c":7}'));
  t.true(f.matchesValue({ c: 7 }));
});

test('an expression without fields still needs a valid payload', (t) => {
  const yes = compileFilter('1');
  t.true(yes.matches('{}'));
  t.true(yes.matches('{"a": 1}'));
  t.false(yes.matches(null));
  t.false(yes.matches(''));
  t.false(yes.matches('{bad'));
  t.false(compileFilter('0').matches('{}'));
});

test('duplicate keys: the last one wins (JSON.parse)', (t) => {
  t.true(run('.a == 2', '{"a": 1, "a": 2}'));
});

test('the compiled filter can be reused across payloads', (t) => {
  const f = compileFilter('.year >= 1980 and .genre == "drama"');
  t.true(f.matches('{"year": 1990, "genre": "drama"}'));
  t.false(f.matches('{"year": 1970, "genre": "drama"}'));
  t.false(f.matches('{"year": 1990}'));
  t.true(f.matches('{"year": "1985", "genre": "drama", "x": [1]}'));
  t.false(f.matches('{"year": 1990, "genre": {"a": 1}}'));
  t.true(f.matches('{"genre": "drama", "year": 1990}'));
});

test('fields lists the top-level names read, once each, in order', (t) => {
  t.deepEqual(compileFilter('.year >= 1980 and .genre == "drama"').fields, ['year', 'genre']);
  t.deepEqual(compileFilter('.a + .a + .b > .a').fields, ['a', 'b']);
  t.deepEqual(compileFilter('1 + 2').fields, []);
  t.deepEqual(compileFilter('.dash-name in .x_y').fields, ['dash-name', 'x_y']);
  t.true(Object.isFrozen(compileFilter('.a').fields));
  t.is(compileFilter(' .a == 1 ').source, ' .a == 1 ');
});

// ---------------------------------------------------------------- syntax errors

/** [expression, the rest of the expression the error points at] */
const ERRORS: [string, string][] = [
  ['', ''], ['   ', ''], ['.c ==', ''], ['== 1', '== 1'], ['.c == 7)', ')'], ['(.c == 7', ''], ['((1)', ''],
  ['.c 7', '7'], ['.c .year', '.year'], ['1 2', '2'], ['"a" "b"', '"b"'], ['true', 'true'], ['false', 'false'],
  ['.c == true', 'true'], ['AND', 'AND'], ['.c AND 1', 'AND 1'], ['NOT 1', 'NOT 1'], ['.c OR 1', 'OR 1'],
  ['Null == .c', 'Null == .c'], ['1 IN [1]', 'IN [1]'], ['.c = 7', '= 7'], ['.c & 1', '& 1'], ['.c | 1', '| 1'],
  ['.c === 7', '= 7'], ['.c <> 7', '> 7'], ['.c =< 7', '=< 7'], ['- .c', '- .c'], ['-(1)', '-(1)'], ['- 1', '- 1'],
  ['1 - - 1', '- 1'], ['-.5', '-.5'], ['"abc', '"abc'], ["'abc", "'abc"], ['.c == "abc\\"', '"abc\\"'],
  ['"\\u12"', '\\u12"'], ['"\\uZZZZ"', '\\uZZZZ"'], ['[1, x]', 'x]'], ['[1 2]', '2]'], ['[1,', ''], ['[', ''],
  ['[[1]]', '[1]]'], ['.tags in [["a"]]', '["a"]]'], ['[.c]', '.c]'], ['[true]', 'true]'], ['[1,,2]', ',2]'],
  ['.', '.'], ['. c', '. c'], ['.c.d', '.d'], ['.c == 7 .', '.'], ['1.2.3', '1.2.3'], ['1e', '1e'], ['1e+', '1e+'],
  ['1e5e5', '1e5e5'], ['12abc', 'abc'], ['not', ''], ['!', ''], ['()', ')'], ['(', ''], [')', ')'],
  ['.c == 7 not', 'not'], ['.c == 7 !', '!'], ['1 (2)', '(2)'], ['$', '$'], ['.c == 7 # x', '# x'],
  ['.c ==\n=\n1', '= 1'], ['nullx', 'nullx'], ['.c inn [1]', 'inn [1]'], ['and', 'and'], ['or 1', 'or 1'],
  ['.c and', ''], ['1 +', ''], ['* 2', '* 2'], ['1 ** ** 2', '** 2'], ['.c == 7 ()', '()'], ['.é', '.é'],
];

for (const [expr, near] of ERRORS) {
  test(`syntax error: ${JSON.stringify(expr)} near ${JSON.stringify(near)}`, (t) => {
    const err = t.throws(() => compileFilter(expr), { instanceOf: ArgError });
    t.is(err?.message, `syntax error in FILTER expression near: ${near}`);
    t.is(err?.code, 'ERR');
  });
}

// ---------------------------------------------------------------- properties

type Scalar = number | string | null;
type Lit = Scalar | Scalar[];
type Tree =
  | { kind: 'lit'; value: Lit }
  | { kind: 'not'; a: Tree }
  | { kind: 'bin'; op: string; a: Tree; b: Tree };

const OPS = ['+', '-', '*', '/', '%', '**', '==', '!=', '<', '<=', '>', '>=', 'in', 'and', 'or', '&&', '||'];
const scalarArb: fc.Arbitrary<Scalar> = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.constantFrom(0.5, 2.25, -1.5, 100),
  fc.constantFrom('', 'a', 'ab', 'b', '1', '2.5', 'x1', ' 3', '3 ', 'a"b', "it's", 'back\\slash', 'é'),
  fc.constant(null),
);
const litArb: fc.Arbitrary<Lit> = fc.oneof(
  { weight: 4, arbitrary: scalarArb },
  { weight: 1, arbitrary: fc.array(scalarArb, { maxLength: 12 }) },
);
const { tree: treeArb } = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 3, arbitrary: litArb.map((value): Tree => ({ kind: 'lit', value })) },
    { weight: 1, arbitrary: tie('tree').map((a): Tree => ({ kind: 'not', a })) },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...OPS), tie('tree'), tie('tree'))
      .map(([op, a, b]): Tree => ({ kind: 'bin', op, a, b })) },
  ),
}));

function literal(v: Lit): string {
  if (Array.isArray(v)) return `[${v.map(literal).join(', ')}]`;
  if (typeof v === 'string') return JSON.stringify(v); // JSON escapes are valid filter escapes
  return v === null ? 'null' : String(v);
}

/** Fully parenthesised source; leaves become fields `.f<n>` when `fields` is given. */
function source(tree: Tree, fields?: Record<string, Lit>): string {
  switch (tree.kind) {
    case 'lit': {
      if (fields === undefined) return literal(tree.value);
      const name = `f${Object.keys(fields).length}`;
      fields[name] = tree.value;
      return `.${name}`;
    }
    case 'not': return `(not ${source(tree.a, fields)})`;
    default: return `(${source(tree.a, fields)} ${tree.op} ${source(tree.b, fields)})`;
  }
}

// A reference evaluator written straight from the spec's FILTER rules.
type V = Scalar | Scalar[] | boolean;
const refNum = (v: V): number => typeof v === 'boolean' ? (v ? 1 : 0) : typeof v === 'number' ? v
  : typeof v === 'string' ? (/^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v) ? Number(v) : 0) : 0;
const refTrue = (v: V): boolean => typeof v === 'boolean' ? v : typeof v === 'number' ? v !== 0
  : typeof v === 'string' ? v !== '' : v !== null;
function refEq(a: V, b: V): boolean {
  if (typeof a === 'boolean') a = a ? 1 : 0;
  if (typeof b === 'boolean') b = b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return a === b;
  if (a === null || b === null) return a === b;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => refEq(x, b[i]!));
  return refNum(a) === refNum(b);
}
function refEval(t: Tree): V {
  if (t.kind === 'lit') return t.value;
  if (t.kind === 'not') return !refTrue(refEval(t.a));
  const a = refEval(t.a);
  const b = refEval(t.b);
  const x = refNum(a), y = refNum(b);
  switch (t.op) {
    case '+': return x + y;
    case '-': return x - y;
    case '*': return x * y;
    case '/': return x / y;
    case '%': return x % y;
    case '**': return x === 1 || (x === -1 && (y === Infinity || y === -Infinity)) ? 1 : x ** y; // C pow()
    case '==': return refEq(a, b);
    case '!=': return !refEq(a, b);
    case '<': return x < y;
    case '<=': return x <= y;
    case '>': return x > y;
    case '>=': return x >= y;
    case 'in':
      if (Array.isArray(b)) return b.some((e) => refEq(a, e));
      return typeof a === 'string' && typeof b === 'string' && b.includes(a);
    case 'and': case '&&': return refTrue(a) && refTrue(b);
    default: return refTrue(a) || refTrue(b);
  }
}

test('property: random expressions agree with a reference evaluator, folded or read from fields', (t) => {
  fc.assert(fc.property(treeArb, (tree) => {
    const expected = refTrue(refEval(tree));
    const folded = compileFilter(source(tree)).matches('{}');
    const fields: Record<string, Lit> = {};
    const viaFields = compileFilter(source(tree, fields)).matches(JSON.stringify(fields));
    return folded === expected && viaFields === expected;
  }), { numRuns: 5000 });
  t.pass();
});

test('property: one missing field anywhere makes the whole expression false', (t) => {
  fc.assert(fc.property(treeArb, fc.nat(), (tree, pick) => {
    const fields: Record<string, Lit> = {};
    const text = source(tree, fields);
    const names = Object.keys(fields);
    delete fields[names[pick % names.length]!];
    return compileFilter(text).matches(JSON.stringify(fields)) === false;
  }), { numRuns: 3000 });
  t.pass();
});

test('property: long-tuple membership (sets) agrees with short-tuple scans', (t) => {
  fc.assert(fc.property(scalarArb, fc.array(scalarArb, { minLength: 9, maxLength: 40 }), (v, tuple) => {
    const chunks: string[] = [];
    for (let i = 0; i < tuple.length; i += 8) chunks.push(`.v in ${literal(tuple.slice(i, i + 8))}`);
    const attrs = JSON.stringify({ v });
    return compileFilter(`.v in ${literal(tuple)}`).matches(attrs) === compileFilter(chunks.join(' or ')).matches(attrs)
      && compileFilter(`${literal(v)} in ${literal(tuple)}`).matches('{}') === refTrue(refEval(
        { kind: 'bin', op: 'in', a: { kind: 'lit', value: v }, b: { kind: 'lit', value: tuple } }));
  }), { numRuns: 5000 });
  t.pass();
});

test('property: unparenthesised and/or chains follow && over || (as JavaScript)', (t) => {
  const chain = fc.tuple(fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }),
    fc.array(fc.constantFrom('and', 'or', '&&', '||'), { minLength: 11, maxLength: 11 }));
  fc.assert(fc.property(chain, ([values, ops]) => {
    const fields: Record<string, number> = {};
    let text = '', js = '';
    values.forEach((v, i) => {
      fields[`v${i}`] = v ? 1 : 0;
      if (i > 0) {
        text += ` ${ops[i - 1]} `;
        js += ops[i - 1] === 'and' || ops[i - 1] === '&&' ? ' && ' : ' || ';
      }
      text += `.v${i}`;
      js += String(v);
    });
    const expected = Boolean(new Function(`return ${js};`)());
    return compileFilter(text).matches(JSON.stringify(fields)) === expected
      && compileFilter(values.map((v, i) => (i > 0 ? ` ${ops[i - 1]} ` : '') + (v ? '1' : '0')).join('')).matches('{}')
        === expected;
  }), { numRuns: 5000 });
  t.pass();
});

test('nesting is bounded: deep input is refused with the limit named, never a stack overflow', (t) => {
  const doc = '{"c": 7}';
  t.true(run('('.repeat(500) + '.c' + ')'.repeat(500), doc));
  t.true(run('not not '.repeat(250) + '.c', doc));
  t.true(run(Array(500).fill('.c').join(' + ') + ' == 3500', doc));
  for (const deep of [
    '('.repeat(100000) + '.c' + ')'.repeat(100000),
    '!'.repeat(100000) + '.c',
    Array(100000).fill('.c').join(' + '),
    Array(100000).fill('1').join(' ** '),
    Array(100000).fill('.c').join(' ** '),
    'not '.repeat(5000) + '.c',
  ]) {
    const err = t.throws(() => compileFilter(deep), { instanceOf: ArgError });
    t.true(err?.message.startsWith('FILTER expression nests deeper than 1000 levels near: '), err?.message.slice(0, 80));
  }
});

test('long and/or chains and long tuples are fine (they compile to loops)', (t) => {
  const doc = '{"c": 7}';
  const ors = Array.from({ length: 100000 }, (_, i) => `.c == ${i + 1}`).join(' or ');
  t.true(run(ors, doc));
  t.false(run(ors, '{"c": 0}'));
  const ands = Array.from({ length: 100000 }, (_, i) => `.c != ${i + 8}`).join(' && ');
  t.true(run(ands, doc));
  t.false(run(ands, '{"c": 99}'));
  t.true(run(Array(100000).fill('1').join(' + ') + ' == 100000', doc)); // constant: folded as it is built
  t.true(run(`.c in [${Array.from({ length: 100000 }, (_, i) => i).join(', ')}]`, doc));
});

test('property: arithmetic on fields matches JavaScript', (t) => {
  const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
  fc.assert(fc.property(finite, finite, fc.constantFrom('+', '-', '*', '/', '%'), (a, b, op) => {
    const r = op === '+' ? a + b : op === '-' ? a - b : op === '*' ? a * b : op === '/' ? a / b : a % b;
    if (!Number.isFinite(r)) return true; // not representable in JSON
    return compileFilter(`.a ${op} .b == .r`).matches(JSON.stringify({ a, b, r }));
  }), { numRuns: 5000 });
  t.pass();
});

test('property: number literals read as JavaScript reads them', (t) => {
  fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (d) => {
    const text = String(d); // e.g. 1e-7, -0, 1.5e+300
    return compileFilter(`${text} == .d`).matches(JSON.stringify({ d }));
  }), { numRuns: 5000 });
  t.pass();
});

test('property: string literals round-trip any text through JSON-style escapes', (t) => {
  fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), (s) => {
    const single = `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    const attrs = JSON.stringify({ s });
    return compileFilter(`.s == ${JSON.stringify(s)}`).matches(attrs)
      && compileFilter(`.s == ${single}`).matches(attrs);
  }), { numRuns: 5000 });
  t.pass();
});

test('property: junk never throws anything but an ArgError', (t) => {
  const junk = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.string({ unit: fc.constantFrom('.', 'a', '1', ' ', '(', ')', '[', ']', '"', "'", '\\', '-', '!', '=', '<',
      '*', 'and', 'or', 'not', 'in', 'null', ',', 'e'), maxLength: 20 }),
  );
  fc.assert(fc.property(junk, (s) => {
    try {
      const f = compileFilter(s);
      f.matches(DOC);
      return true;
    } catch (e) {
      return e instanceof ArgError && e.message.startsWith('syntax error in FILTER expression near: ');
    }
  }), { numRuns: 20000 });
  t.pass();
});
