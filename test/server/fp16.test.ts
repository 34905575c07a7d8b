import { describe, expect, it } from 'vitest';
import { floatToHalf, halfToFloat } from '../../src/server/fp16.js';

const isHalfNaN = (h: number): boolean => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

describe('floatToHalf / halfToFloat', () => {
  it.each([
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [0.333251953125, 0x3555], // exactly representable
    [65504, 0x7bff], // largest finite half
    [2 ** -14, 0x0400], // smallest normal
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [2 ** -24, 0x0001], // smallest subnormal
    [-(2 ** -24), 0x8001],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ])('converts %d to half bits %i and back', (value, bits) => {
    expect(floatToHalf(value)).toBe(bits);
    expect(Object.is(halfToFloat(bits), value)).toBe(true);
  });

  it('flushes magnitudes below half the smallest subnormal to signed zero', () => {
    expect(floatToHalf(1e-8)).toBe(0x0000);
    expect(floatToHalf(-1e-8)).toBe(0x8000);
    expect(floatToHalf(2 ** -26)).toBe(0x0000);
    expect(floatToHalf(1e-45)).toBe(0x0000);
  });

  it('rounds values near the subnormal boundary to the nearest subnormal, ties to even', () => {
    expect(floatToHalf(2 ** -25)).toBe(0x0000); // tie between 0 and 1: 0 is even
    expect(floatToHalf(2 ** -25 + 2 ** -40)).toBe(0x0001); // just above the tie
    expect(floatToHalf(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2: 2 is even
    expect(floatToHalf(5 * 2 ** -25)).toBe(0x0002); // tie between 2 and 3: 2 is even
    expect(floatToHalf(3e-8)).toBe(0x0001);
    expect(floatToHalf((1023.5 * 2 ** -24))).toBe(0x0400); // rounds up out of the subnormals
  });

  it('rounds normal values to nearest, ties to even', () => {
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // tie: 0x3c00 is even
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie: 0x3c02 is even
    expect(floatToHalf(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // above the tie
    expect(floatToHalf(1 + 2 ** -11 - 2 ** -20)).toBe(0x3c00); // below the tie
    expect(floatToHalf(0.1)).toBe(0x2e66);
    expect(floatToHalf(-3.14159)).toBe(0xc248);
    expect(floatToHalf(2 - 2 ** -11)).toBe(0x4000); // tie carries into the exponent
  });

  it('overflows to infinity from the midpoint above 65504, ties to even', () => {
    expect(floatToHalf(65519)).toBe(0x7bff);
    expect(floatToHalf(65520)).toBe(0x7c00);
    expect(floatToHalf(1e5)).toBe(0x7c00);
    expect(floatToHalf(-1e10)).toBe(0xfc00);
    expect(floatToHalf(1e300)).toBe(0x7c00);
  });

  it('keeps NaN a NaN both ways', () => {
    expect(isHalfNaN(floatToHalf(NaN))).toBe(true);
    expect(halfToFloat(0x7e00)).toBeNaN();
    expect(halfToFloat(0x7c01)).toBeNaN();
    expect(halfToFloat(0xfe00)).toBeNaN();
  });

  it('round-trips every one of the 65536 bit patterns (NaN payloads aside)', () => {
    const wrong: string[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const back = floatToHalf(halfToFloat(h));
      if (isHalfNaN(h) ? !isHalfNaN(back) : back !== h) wrong.push(`0x${h.toString(16)} -> 0x${back.toString(16)}`);
    }
    expect(wrong).toEqual([]);
  });

  it('decodes exact values', () => {
    expect(halfToFloat(0x3555)).toBe(0.333251953125);
    expect(halfToFloat(0x2e66)).toBe(0.0999755859375);
    expect(halfToFloat(0x0200)).toBe(2 ** -15);
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
  });

  // Regression: rounding through float32 first turned a double just above a half-way point into
  // the exact tie, which then rounded down (1 + 2^-11 + 2^-40 gave 0x3c00, not 0x3c01).
  it('rounds a JSON double to half once, not through float32 (no double rounding)', () => {
    expect(floatToHalf(1 + 2 ** -11 + 2 ** -40)).toBe(0x3c01);
  });
});
