import { describe, expect, it } from 'vitest';
import { NumberRun, parseInferJson } from '../../src/server/infer-json.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** parseInferJson's result with every NumberRun back as a plain array, and where the runs were. */
function plain(v: unknown, path = '$', runs: string[] = []): unknown {
  if (v instanceof NumberRun) {
    runs.push(path);
    return Array.from(v.values);
  }
  if (Array.isArray(v)) return v.map((x, i) => plain(x, `${path}[${i}]`, runs));
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x, `${path}.${k}`, runs)]));
  return v;
}

/** Either gives up (undefined) or agrees with JSON.parse exactly, -0 and all. */
function agrees(text: string): 'same' | 'gave up' {
  const fast = parseInferJson(bytes(text));
  if (fast === undefined) return 'gave up';
  expect(Object.is(fast, null) || fast !== undefined).toBe(true);
  const ref = JSON.parse(text);
  const got = plain(fast);
  expect(got).toStrictEqual(ref);
  // toStrictEqual treats 0 and -0 as equal inside arrays: compare the bits of every number too.
  const nums = (x: unknown, out: number[] = []): number[] => {
    if (typeof x === 'number') out.push(x);
    else if (typeof x === 'object' && x !== null) for (const y of Object.values(x)) nums(y, out);
    return out;
  };
  const a = nums(got);
  const b = nums(ref);
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) throw new Error(`${text}: number ${i} is ${a[i]}, JSON.parse gives ${b[i]}`);
  return 'same';
}

const body = (data: string, extra = '') => `{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":${data}}]${extra}}`;

describe('parseInferJson', () => {
  it('reads a request with a flat numeric data array into a NumberRun at inputs[i].data only', () => {
    const text = '{"id":"a","inputs":[{"name":"x","datatype":"FP32","shape":[3],"data":[1,-2.5,3e2],"parameters":{"data":[1,2]}},' +
      '{"name":"y","datatype":"INT32","shape":[2],"data":[7,8]}],"parameters":{"data":[4]},"outputs":[{"name":"p"}]}';
    const runs: string[] = [];
    plain(parseInferJson(bytes(text)), '$', runs);
    expect(runs).toEqual(['$.inputs[0].data', '$.inputs[1].data']);
    expect(agrees(text)).toBe('same');
  });

  it('gives nested, mixed and empty data back as plain arrays, as JSON.parse does', () => {
    for (const data of ['[[1,2],[3,4]]', '[1,[2]]', '[true,false]', '["a",1]', '[]', '[ ]', '[null]']) {
      const fast = parseInferJson(bytes(body(data))) as { inputs: { data: unknown }[] };
      expect(fast).toBeDefined();
      if (data.replace(/ /g, '') === '[]') expect((fast.inputs[0].data as NumberRun | unknown[]).length).toBe(0);
      else expect(fast.inputs[0].data).toEqual(JSON.parse(data));
      expect(agrees(body(data))).toBe('same');
    }
  });

  it.each([
    '0', '-0', '0.0', '-0.0', '1', '-1', '0.1', '0.3', '-0.522', '123.456', '1e0', '1E+2', '1e-2', '-1.5e-3', '1e22', '1e-22',
    '123456789012345', '-999999999999999', '0.000000000000001', '4.35', '0e5', '0.0000e-5', '100000000000000e8',
    '0.0000000000000000000001', '1.50000000000000', '12345678901234.5', '1e00000000000000000000001',
  ])('reads %s itself, as JSON.parse does', (n) => {
    expect(agrees(body(`[${n},${n}]`))).toBe('same');
    expect(agrees(`{"inputs":[{"data":${n}}],"v":${n}}`)).toBe('same');
  });

  it.each([
    '1234567890123456', '9007199254740993', '0.1234567890123456789', '0.10000000149011612', '0.30000000000000004',
    '1.7976931348623157e308', '1.8e308', '-1.8e308', '5e-324', '2e-324', '1e-400', '1e400', '1e23', '1e-23',
    '2.2250738585072014e-308', '1.00000000000000000000001', '1e-99999999999999999999', '3.4028234e38', '1.17549435e-38',
    '0.00000000000000000000001', '1.500000000000000',
  ])('hands %s (more than 15 digits, or an exponent past ±22) to JSON.parse', (n) => {
    expect(agrees(body(`[${n},${n}]`))).toBe('gave up');
    expect(agrees(body(`[0.5,${n}]`))).toBe('gave up');
    expect(agrees(`{"inputs":[{"data":[[${n}]]}]}`)).toBe('gave up');
    expect(agrees(`{"v":${n}}`)).toBe('gave up');
  });

  it('reads the whole of a long exponent (a fraction of 99,999 zeros brought back by e1000000 is Infinity, not 1)', () => {
    const n = `0.${'0'.repeat(99999)}1e1000000`;
    expect(JSON.parse(n)).toBe(Infinity);
    expect(agrees(body(`[${n}]`))).toBe('gave up');
    expect(agrees(`{"parameters":{"timeout":${n}}}`)).toBe('gave up');
    // An exact exponent below the cap, against as long a fraction: 1e-100000 × 1e99999 = 0.1.
    expect(agrees(body(`[0.${'0'.repeat(99999)}1e99999]`))).toBe('same');
    expect(agrees(`{"v":0.${'0'.repeat(99999)}1e99999}`)).toBe('same');
  });

  it('agrees with JSON.parse on random numbers in every notation, and reads the short ones itself', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const short: string[] = [];
    for (let i = 0; i < 4000; i++) {
      // At most 15 significant digits, decimal exponent within ±22.
      const x = (rand() - 0.5) * 10 ** Math.floor(rand() * 16 - 8);
      short.push(i % 2 === 0 ? x.toFixed(Math.floor(rand() * 7)) : x.toExponential(Math.floor(rand() * 11)));
      const digits = Array.from({ length: 1 + Math.floor(rand() * 15) }, () => Math.floor(rand() * 10)).join('').replace(/^0+(?=\d)/, '');
      const cut = Math.floor(rand() * digits.length);
      short.push(cut > 0 && cut < digits.length ? `${digits.slice(0, cut)}.${digits.slice(cut)}` : digits);
    }
    for (let i = 0; i < short.length; i += 50) expect(agrees(body(`[${short.slice(i, i + 50).join(',')}]`))).toBe('same');
    // Anything at all: read by the fast path or handed over, never different from JSON.parse.
    for (let i = 0; i < 4000; i++) {
      const x = (rand() - 0.5) * 10 ** Math.floor(rand() * 60 - 30);
      const forms = [String(x), x.toFixed(Math.floor(rand() * 20)), x.toExponential(Math.floor(rand() * 20)), x.toPrecision(1 + Math.floor(rand() * 21))];
      agrees(body(`[${forms[i % 4]}]`));
    }
  });

  it.each([
    ['a leading zero', body('[01]')],
    ['a bare point', body('[1.]')],
    ['a point first', body('[.5]')],
    ['a lone minus', body('[-]')],
    ['a plus sign', body('[+1]')],
    ['an empty exponent', body('[1e]')],
    ['a trailing comma', body('[1,]')],
    ['a leading comma', body('[,1]')],
    ['two commas', body('[1,,2]')],
    ['no comma', body('[1 2]')],
    ['an unclosed array', '{"inputs":[{"data":[1,2'],
    ['a trailing comma in an object', '{"a":1,}'],
    ['an unquoted key', '{a:1}'],
    ['trailing text', '{"a":1} x'],
    ['two values', '{"a":1}{"b":2}'],
    ['a misspelled literal', '{"a":tru}'],
    ['NaN', body('[NaN]')],
    ['Infinity', body('[Infinity]')],
    ['a hex number', body('[0x10]')],
    ['an unterminated string', '{"a":"b'],
    ['a tab inside a string', '{"a":"b\tc"}'],
    ['an empty body', ''],
    ['only spaces', '   '],
  ])('gives up on %s, as JSON.parse refuses it', (_, text) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(parseInferJson(bytes(text))).toBeUndefined();
  });

  it.each([
    ['an escape', '{"inputs":[{"name":"a\\"b","data":[1]}]}'],
    ['a unicode escape', '{"inputs":[{"name":"\\u00e9","data":[1]}]}'],
    ['non-ASCII text', '{"inputs":[{"name":"é","data":[1]}]}'],
    ['a __proto__ key', '{"__proto__":{"polluted":true},"inputs":[]}'],
    ['deep nesting', `${'['.repeat(100)}${']'.repeat(100)}`],
  ])('gives up on valid JSON outside its subset (%s), for JSON.parse to read', (_, text) => {
    expect(() => JSON.parse(text)).not.toThrow();
    expect(parseInferJson(bytes(text))).toBeUndefined();
  });

  it('agrees with JSON.parse on whitespace, literals, nesting and repeated keys', () => {
    for (const text of [
      ' \t\r\n{ "inputs" : [ { "data" : [ 1 , 2 ] , "name" : "x" } ] , "a" : [ true , false , null , { } , [ ] ] } \n',
      '{"a":1,"a":2,"inputs":[{"data":[1],"data":[2,3]}]}',
      '{"inputs":[[1,2],{"data":[3]}],"x":{"inputs":[{"data":[4]}]}}',
      '[1,2,3]',
      '"text"',
      '12',
      'null',
      '{"constructor":1,"toString":[2],"0":3,"inputs":{"data":[1]}}',
      // Strings of 16 characters and fewer are built byte by byte; longer ones are decoded.
      '{"sixteen_chars_k":"x","seventeen_chars_k":"a value of thirty-one characters","inputs":[{"name":"an_input_name_of_30_characters","data":[1]}]}',
    ]) {
      expect(agrees(text)).toBe('same');
    }
  });

  it('reads long data arrays (its buffer grows) and stays right for the next, shorter one', () => {
    const long = Array.from({ length: 5000 }, (_, i) => (i % 7) - 3.25);
    expect(agrees(body(JSON.stringify(long)))).toBe('same');
    expect(agrees(body('[0.5,2]'))).toBe('same');
  });

  it('keeps each input of a body apart in the reused buffer, also when it grows in the middle of one', () => {
    const nums = (k: number, base: number) => JSON.stringify(Array.from({ length: k }, (_, i) => base + i / 8));
    // The buffer starts each body with at most 65,536 doubles (KEEP_RUN): 60,000 numbers, then
    // 70,000 that outgrow it part-way, then 5 in the new buffer.
    const text = `{"inputs":[{"name":"a","data":${nums(60000, 0)}},{"name":"b","data":${nums(70000, 5000)}},{"name":"c","data":${nums(5, -9)}}]}`;
    const fast = parseInferJson(bytes(text)) as { inputs: { data: NumberRun }[] };
    const ref = JSON.parse(text) as { inputs: { data: number[] }[] };
    for (let i = 0; i < 3; i++) expect(Array.from(fast.inputs[i].data.values)).toEqual(ref.inputs[i].data);
    expect(agrees(text)).toBe('same');
  });

  it('after an input grows the buffer and then turns out mixed, the next data array still reads right', () => {
    const nums = (k: number) => Array.from({ length: k }, (_, i) => i / 4).join(',');
    // A duplicate "data" key: JSON.parse keeps the last. Input a leaves a 131,072-double buffer
    // (whatever power of two from 1,024 to 65,536 the body starts with) with 120,000 used; b's first
    // array outgrows it after 11,072 numbers, then meets null; its second array must still read.
    const text = `{"inputs":[{"name":"a","data":[${nums(120000)}]},{"name":"b","data":[${nums(20000)},null],"data":[1,2,3]}]}`;
    expect(agrees(text)).toBe('same');
  });

  it('an input that starts exactly at the end of the buffer gets a new one', () => {
    // Fill the buffer the next body starts with exactly (its length is 1,024 to 65,536 doubles, a
    // power of two): whichever it is, one of these first inputs ends right at it.
    for (let k = 1024; k <= 65536; k *= 2) {
      const text = `{"inputs":[{"name":"a","data":[${Array.from({ length: k }, (_, i) => i).join(',')}]},{"name":"b","data":[7,8,9]}]}`;
      expect(agrees(text)).toBe('same');
    }
  });
});
