/**
 * IEEE 754 half-precision conversions for the JSON codec (binary formats carry raw bits and never
 * come here). Rounds a double straight to half (not through float32, which would round twice),
 * to nearest even; keeps subnormals, infinities and NaN.
 */
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer); // little-endian: u32[1] holds sign, exponent, top mantissa

export function floatToHalf(value: number): number {
  f64[0] = value;
  const hi = u32[1];
  const lo = u32[0];
  const sign = (hi >>> 16) & 0x8000;
  const exp = (hi >>> 20) & 0x7ff;
  const mantHi = hi & 0xfffff; // top 20 of the 52 mantissa bits
  if (exp === 0x7ff) return sign | 0x7c00 | (mantHi !== 0 || lo !== 0 ? 0x200 : 0);
  const e = exp - 1023 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) return sign | subnormal(Math.abs(value));
  const mant = mantHi >>> 10;
  const roundBit = (mantHi >>> 9) & 1;
  const sticky = (mantHi & 0x1ff) !== 0 || lo !== 0;
  let half = sign | (e << 10) | mant;
  // A carry out of the mantissa bumps the exponent, up to infinity: exactly what rounding needs.
  if (roundBit === 1 && (sticky || (mant & 1) === 1)) half++;
  return half;
}

/** |value| below 2^-14: a multiple of 2^-24, rounded to nearest even (scaling by 2^24 is exact). */
function subnormal(abs: number): number {
  const x = abs * 2 ** 24;
  let m = Math.floor(x);
  const r = x - m;
  if (r > 0.5 || (r === 0.5 && (m & 1) === 1)) m++;
  return m; // 1024 is the smallest normal, 0x0400: still correct
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant !== 0 ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
