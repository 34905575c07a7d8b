/**
 * A JSON parser for inference request bodies that reads each input's flat `data` array of numbers
 * straight from the bytes into a Float64Array, instead of JSON.parse building it from a decoded
 * string. JSON.parse was ~29% of the event loop's busy time on the JSON path (a 256-float request:
 * ~18 µs per request under load on the 2-core reference machine); the numbers are almost all of it.
 *
 * It is a fast path, never a second definition of JSON:
 * - It parses a strict subset: ASCII text, strings without escapes, no `__proto__` key, nesting at
 *   most MAX_DEPTH deep, numbers of at most 15 significant digits with a decimal exponent within
 *   ±22 (what values rounded to a few decimals, and integers, look like). On anything else, valid
 *   or not, it returns undefined and the caller uses JSON.parse, whose result and error messages
 *   are the reference. Full-precision floats (`0.10000000149011612`) are JSON.parse's: reading them
 *   one by one in JavaScript is slower than JSON.parse, so the body goes there at the first one.
 * - What it returns equals JSON.parse's result, except that `inputs[i].data`, when it is a flat array
 *   of numbers, is a NumberRun holding the same doubles (JSON.parse's, bit for bit: see number()).
 *   Only that path gets one, so client `parameters` keep plain arrays.
 */

/**
 * A flat JSON array of numbers, parsed into doubles (exactly what JSON.parse would give).
 * `values` is a view into the parser's reused buffer: it holds until the next parseInferJson call,
 * so read or copy it before then (the decoders do, in the same synchronous step). One fewer
 * ArrayBuffer per request: each one is swept at every scavenge (`--trace-gc-nvp`:
 * sweep_array_buffers was ~0.8 of a ~2.3 ms scavenge at 10,000 req/s).
 */
export class NumberRun {
  constructor(readonly values: Float64Array) {}
  get length(): number {
    return this.values.length;
  }
}

const MAX_DEPTH = 64;
/** 10^0 … 10^22: every one an exact double (Clinger's fast path, below). */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
const EMPTY = new Uint8Array(0);
/** Doubles the reused data buffer keeps between requests (512 KB); a longer one is dropped after its request. */
const KEEP_RUN = 65536;

// Where a value sits: the request object, its `inputs` array, one input object, one input's `data`.
const ANY = 0;
const ROOT = 1;
const INPUTS = 2;
const INPUT = 3;
const DATA = 4;

/** Thrown inside the parser to give up; parseInferJson turns it into undefined. */
const GIVE_UP = Symbol('give up');

class Parser {
  b: Uint8Array = new Uint8Array(0);
  pos = 0;
  /** Numbers of the data arrays read so far in this body, one after another (reused between requests). */
  run = new Float64Array(1024);
  /** Where the next data array's numbers start in `run`. */
  used = 0;

  reset(body: Uint8Array): void {
    this.b = body;
    this.pos = 0;
    this.used = 0;
  }

  ws(): void {
    const b = this.b;
    let p = this.pos;
    for (let c = b[p]; c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = b[++p]);
    this.pos = p;
  }

  value(where: number, depth: number): unknown {
    this.ws();
    const c = this.b[this.pos];
    if (c === 0x7b) return this.object(where, depth + 1);
    if (c === 0x5b) return where === DATA ? this.data(depth + 1) : this.array(where === INPUTS ? INPUT : ANY, depth + 1);
    if (c === 0x22) return this.string();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (c === 0x74) return this.literal('true', true);
    if (c === 0x66) return this.literal('false', false);
    if (c === 0x6e) return this.literal('null', null);
    throw GIVE_UP;
  }

  object(where: number, depth: number): Record<string, unknown> {
    if (depth > MAX_DEPTH) throw GIVE_UP;
    this.pos++;
    const out: Record<string, unknown> = {};
    this.ws();
    if (this.b[this.pos] === 0x7d) {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.b[this.pos] !== 0x22) throw GIVE_UP;
      const key = this.string();
      // JSON.parse makes `__proto__` an own property; assigning it would set the prototype.
      if (key === '__proto__') throw GIVE_UP;
      this.ws();
      if (this.b[this.pos++] !== 0x3a) throw GIVE_UP;
      const inner = where === ROOT && key === 'inputs' ? INPUTS : where === INPUT && key === 'data' ? DATA : ANY;
      out[key] = this.value(inner, depth);
      this.ws();
      const c = this.b[this.pos++];
      if (c === 0x7d) return out;
      if (c !== 0x2c) throw GIVE_UP;
    }
  }

  array(where: number, depth: number): unknown[] {
    if (depth > MAX_DEPTH) throw GIVE_UP;
    this.pos++;
    const out: unknown[] = [];
    this.ws();
    if (this.b[this.pos] === 0x5d) {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value(where, depth));
      this.ws();
      const c = this.b[this.pos++];
      if (c === 0x5d) return out;
      if (c !== 0x2c) throw GIVE_UP;
    }
  }

  /**
   * An input's `data`: a NumberRun when every element is a number, else a plain array. The loop
   * reads the common numbers (`-?digits[.digits]`, at most 15 significant digits) itself and hands
   * the rest to number(): a call per element would cost as much as the parsing.
   *
   * A hot loop, longer than most functions here. Invariants: `p` is a byte offset into `b` (reads
   * past the end give undefined, which matches no test below); `run[first, n)` holds the numbers
   * read so far (`run` is the parser's reused buffer; earlier inputs of the body sit before `first`,
   * and a bigger buffer, when needed, takes only this input's numbers); `this.pos` is written back
   * only on the way out, or before calling number(), which reads from it.
   */
  data(depth: number): unknown {
    const b = this.b;
    const start = this.pos;
    let p = start + 1;
    let first = this.used;
    let n = first;
    let run = this.run;
    for (;;) {
      let c = b[p];
      while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++p];
      if (c === 0x5d && n === first && b[p - 1] !== 0x2c) {
        p++;
        break;
      }
      const numberStart = p;
      const negative = c === 0x2d;
      if (negative) c = b[++p];
      if (!(c >= 0x30 && c <= 0x39)) {
        if (negative) throw GIVE_UP;
        // Nested or mixed data: read it again as a plain array. The next input's numbers start where
        // this one's did (in a new buffer, if this one grew it: nothing else views that one).
        this.pos = start;
        this.used = first;
        return this.array(ANY, depth);
      }
      let mantissa = 0;
      let digits = 0;
      let scale = 0;
      if (c === 0x30) {
        c = b[++p];
      } else {
        do {
          mantissa = mantissa * 10 + (c - 0x30);
          digits++;
          c = b[++p];
        } while (c >= 0x30 && c <= 0x39);
      }
      if (c === 0x2e) {
        c = b[++p];
        while (c >= 0x30 && c <= 0x39) {
          mantissa = mantissa * 10 + (c - 0x30);
          if (mantissa !== 0) digits++;
          scale--;
          c = b[++p];
        }
      }
      let v: number;
      if (digits <= 15 && scale >= -22 && c !== 0x65 && c !== 0x45 && !(c >= 0x30 && c <= 0x39) && b[p - 1] !== 0x2e) {
        v = scale === 0 ? mantissa : mantissa / POW10[-scale];
        if (negative) v = -v;
      } else {
        // Exponents, long numbers and malformed ones: the full reader (which gives up on the last two).
        this.pos = numberStart;
        v = this.number();
        p = this.pos;
        c = b[p];
      }
      if (n === run.length) {
        // Earlier inputs keep their views of the old buffer; this one moves to the front of a new one,
        // at least as long (so the buffer kept for the next body does not shrink).
        const grown = new Float64Array(Math.max(run.length, (n - first) * 2));
        grown.set(run.subarray(first, n));
        n -= first;
        first = 0;
        this.run = run = grown;
      }
      run[n++] = v;
      while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++p];
      p++;
      if (c === 0x5d) break;
      if (c !== 0x2c) throw GIVE_UP;
    }
    this.pos = p;
    this.used = n;
    return new NumberRun(run.subarray(first, n));
  }

  /** A string without escapes or non-ASCII bytes (anything else gives up). */
  string(): string {
    const b = this.b;
    const start = ++this.pos;
    let p = start;
    for (;;) {
      const c = b[p];
      if (c === 0x22) break;
      if (c === undefined || c === 0x5c || c < 0x20 || c >= 0x80) throw GIVE_UP;
      p++;
    }
    this.pos = p + 1;
    // Keys and names are short: building them here beats a call into Buffer's decoder.
    if (p - start <= 16) {
      let out = '';
      for (let i = start; i < p; i++) out += String.fromCharCode(b[i]);
      return out;
    }
    return Buffer.from(b.buffer, b.byteOffset + start, p - start).toString('latin1');
  }

  /**
   * One number, with JSON's grammar. When it has at most 15 significant digits (an integer below
   * 2^53) and its decimal exponent is within ±22, the integer times or divided by an exact power of
   * ten is one correctly rounded operation: the same double JSON.parse gives (Clinger 1990). Any
   * other number gives up.
   */
  number(): number {
    const b = this.b;
    let p = this.pos;
    const negative = b[p] === 0x2d;
    if (negative) p++;
    let mantissa = 0;
    let digits = 0;
    let c = b[p];
    if (c === 0x30) {
      c = b[++p];
      if (c >= 0x30 && c <= 0x39) throw GIVE_UP; // a leading zero
    } else if (c >= 0x31 && c <= 0x39) {
      do {
        mantissa = mantissa * 10 + (c - 0x30);
        digits++;
        c = b[++p];
      } while (c >= 0x30 && c <= 0x39);
    } else {
      throw GIVE_UP;
    }
    let scale = 0;
    if (c === 0x2e) {
      c = b[++p];
      if (!(c >= 0x30 && c <= 0x39)) throw GIVE_UP;
      do {
        mantissa = mantissa * 10 + (c - 0x30);
        if (mantissa !== 0) digits++;
        scale--;
        c = b[++p];
      } while (c >= 0x30 && c <= 0x39);
    }
    if (c === 0x65 || c === 0x45) {
      c = b[++p];
      let expNegative = false;
      if (c === 0x2b || c === 0x2d) {
        expNegative = c === 0x2d;
        c = b[++p];
      }
      if (!(c >= 0x30 && c <= 0x39)) throw GIVE_UP;
      let exp = 0;
      do {
        exp = exp * 10 + (c - 0x30);
        // Past this the fast path is out of range anyway; an exponent read only in part would not be.
        if (exp > 99_999) throw GIVE_UP;
        c = b[++p];
      } while (c >= 0x30 && c <= 0x39);
      scale += expNegative ? -exp : exp;
    }
    this.pos = p;
    if (digits <= 15 && scale >= -22 && scale <= 22) {
      const v = scale < 0 ? mantissa / POW10[-scale] : mantissa * POW10[scale];
      return negative ? -v : v;
    }
    // Full-precision doubles (17 digits, as numpy's tolist() gives) and far exponents: JSON.parse
    // reads them much faster than Number() on a sliced string would, so the whole body goes to it.
    throw GIVE_UP;
  }

  literal(word: string, v: boolean | null): boolean | null {
    for (let i = 0; i < word.length; i++) if (this.b[this.pos + i] !== word.charCodeAt(i)) throw GIVE_UP;
    this.pos += word.length;
    return v;
  }
}

// One parser for the thread: a parse runs start to end without yielding, so it is never shared.
const parser = new Parser();

/** The parsed body (see above), or undefined: then JSON.parse must read it. */
export function parseInferJson(body: Uint8Array): unknown {
  parser.reset(body);
  try {
    const v = parser.value(ROOT, 0);
    parser.ws();
    return parser.pos === body.length ? v : undefined;
  } catch {
    // GIVE_UP, or a limit of the engine's (a typed array or string too long): JSON.parse decides.
    return undefined;
  } finally {
    parser.reset(EMPTY);
    // One huge body must not pin its numbers' buffer for the life of the process.
    if (parser.run.length > KEEP_RUN) parser.run = new Float64Array(KEEP_RUN);
  }
}
