import { describe, expect, it } from 'vitest';
import { ERROR_CODES, VolleyError, asVolleyError, fromWire, isErrorCode } from '../src/errors.js';
import type { ErrorCode } from '../src/errors.js';

describe('VolleyError', () => {
  it('carries code, category, message and a retry hint defaulting to 0', () => {
    const err = new VolleyError('ERR_QUEUE_FULL', 'queue is full', 2);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('VolleyError');
    expect([err.code, err.category, err.message, err.retryAfterSeconds]).toEqual(['ERR_QUEUE_FULL', 'unavailable', 'queue is full', 2]);
    expect(new VolleyError('ERR_INTERNAL', 'x').retryAfterSeconds).toBe(0);
  });

  it('isErrorCode accepts exactly the documented codes', () => {
    for (const code of Object.keys(ERROR_CODES)) expect(isErrorCode(code)).toBe(true);
    for (const bad of ['ERR_NOPE', 'toString', '__proto__', '', 5, null, undefined]) expect(isErrorCode(bad)).toBe(false);
  });
});

describe('crossing a worker boundary', () => {
  it.each(Object.keys(ERROR_CODES) as ErrorCode[])('%s survives toWire → structuredClone → fromWire', (code) => {
    const wire = structuredClone(new VolleyError(code, `message for ${code}`).toWire());
    expect(wire).toEqual({ code, message: `message for ${code}` });
    const back = fromWire(wire);
    expect(back).toBeInstanceOf(VolleyError);
    expect([back.code, back.category, back.message]).toEqual([code, ERROR_CODES[code], `message for ${code}`]);
  });

  it('turns an unknown code into ERR_INTERNAL, keeping the message', () => {
    const back = fromWire({ code: 'ERR_FROM_THE_FUTURE', message: 'what happened' });
    expect([back.code, back.category, back.message]).toEqual(['ERR_INTERNAL', 'internal', 'what happened']);
    expect(fromWire({ code: 'constructor', message: 'm' }).code).toBe('ERR_INTERNAL');
  });
});

describe('asVolleyError', () => {
  it('returns a VolleyError as it is', () => {
    const err = new VolleyError('ERR_MODEL_NOT_FOUND', 'no such model');
    expect(asVolleyError(err)).toBe(err);
    expect(asVolleyError(err, 'ERR_RUNTIME')).toBe(err);
  });

  it('keeps a known code on a foreign error (e.g. one rebuilt by structured clone)', () => {
    const foreign = Object.assign(new Error('too slow'), { code: 'ERR_DEADLINE_EXCEEDED' });
    const err = asVolleyError(foreign);
    expect([err.code, err.message]).toEqual(['ERR_DEADLINE_EXCEEDED', 'too slow']);
    expect(asVolleyError({ code: 'ERR_QUEUE_FULL', message: 'plain object' }).code).toBe('ERR_QUEUE_FULL');
  });

  it('uses the fallback for anything else, keeping its message', () => {
    expect([asVolleyError(new Error('boom')).code, asVolleyError(new Error('boom')).message]).toEqual(['ERR_INTERNAL', 'boom']);
    expect(asVolleyError(new Error('boom'), 'ERR_RUNTIME').code).toBe('ERR_RUNTIME');
    expect(asVolleyError(Object.assign(new Error('fs'), { code: 'ENOENT' }), 'ERR_MODEL_LOAD').code).toBe('ERR_MODEL_LOAD');
    expect(asVolleyError('a string').message).toBe('a string');
    expect(asVolleyError(null).message).toBe('null');
    expect(asVolleyError(undefined).code).toBe('ERR_INTERNAL');
  });
});
