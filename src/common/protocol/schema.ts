// A small parse-don't-cast toolkit for wire messages: each Schema turns unknown
// JSON into a typed value or reports every fault with its path. Objects refuse
// unknown keys. Shared with the browser client, so it imports nothing.

/** Result of a parse: a value, or every fault found. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; faults: string[] };

/** Parses unknown input at `path`, pushing faults; returns the value or undefined. */
export interface Schema<T> {
  parse(input: unknown, path: string, faults: string[]): T | undefined;
  /** Marks the schema optional inside obj(). */
  readonly optional?: boolean;
}

/** Infers the value type of a schema. */
export type Infer<S> = S extends Schema<infer T> ? T : never;

function describe(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'array';
  return typeof input;
}

/** A string of bounded length, optionally matching a pattern or one of a set. */
export function str(options: { maxLength?: number; minLength?: number; pattern?: RegExp } = {}): Schema<string> {
  const maxLength = options.maxLength ?? 256;
  const minLength = options.minLength ?? 0;
  return {
    parse(input, path, faults) {
      if (typeof input !== 'string') {
        faults.push(`${path}: expected string, got ${describe(input)}`);
        return undefined;
      }
      if (input.length > maxLength || input.length < minLength) {
        faults.push(`${path}: length must be ${minLength}..${maxLength}`);
        return undefined;
      }
      if (options.pattern && !options.pattern.test(input)) {
        faults.push(`${path}: has an invalid format`);
        return undefined;
      }
      return input;
    },
  };
}

/** One of a fixed set of string literals. */
export function literal<const T extends string>(...values: T[]): Schema<T> {
  return {
    parse(input, path, faults) {
      if (typeof input !== 'string' || !(values as string[]).includes(input)) {
        faults.push(`${path}: expected one of ${values.join(', ')}`);
        return undefined;
      }
      return input as T;
    },
  };
}

/** A finite number, optionally integral and bounded. */
export function num(options: { int?: boolean; min?: number; max?: number } = {}): Schema<number> {
  return {
    parse(input, path, faults) {
      if (typeof input !== 'number' || !Number.isFinite(input)) {
        faults.push(`${path}: expected number, got ${describe(input)}`);
        return undefined;
      }
      if (options.int && !Number.isInteger(input)) {
        faults.push(`${path}: expected an integer`);
        return undefined;
      }
      if ((options.min !== undefined && input < options.min) || (options.max !== undefined && input > options.max)) {
        faults.push(`${path}: out of range ${options.min ?? '-inf'}..${options.max ?? 'inf'}`);
        return undefined;
      }
      return input;
    },
  };
}

/** A boolean. */
export function bool(): Schema<boolean> {
  return {
    parse(input, path, faults) {
      if (typeof input !== 'boolean') {
        faults.push(`${path}: expected boolean, got ${describe(input)}`);
        return undefined;
      }
      return input;
    },
  };
}

/** An array of bounded length. */
export function arr<T>(item: Schema<T>, options: { maxItems?: number } = {}): Schema<T[]> {
  const maxItems = options.maxItems ?? 64;
  return {
    parse(input, path, faults) {
      if (!Array.isArray(input)) {
        faults.push(`${path}: expected array, got ${describe(input)}`);
        return undefined;
      }
      if (input.length > maxItems) {
        faults.push(`${path}: at most ${maxItems} items`);
        return undefined;
      }
      const out: T[] = [];
      let bad = false;
      input.forEach((element, index) => {
        const value = item.parse(element, `${path}[${index}]`, faults);
        if (value === undefined) bad = true;
        else out.push(value);
      });
      return bad ? undefined : out;
    },
  };
}

/** Marks a field optional (absent or undefined). */
export function opt<T>(schema: Schema<T>): Schema<T | undefined> {
  return { parse: schema.parse, optional: true };
}

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends { optional: true } ? K : undefined extends Infer<S[K]> ? K : never }[keyof S];
type RequiredKeys<S extends Shape> = Exclude<keyof S, OptionalKeys<S>>;
/** The typed value of an obj() schema. */
export type ObjOf<S extends Shape> = { [K in RequiredKeys<S>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Exclude<Infer<S[K]>, undefined> };

/** An object with exactly these keys (unknown keys are faults). */
export function obj<S extends Shape>(shape: S): Schema<ObjOf<S>> {
  return {
    parse(input, path, faults) {
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        faults.push(`${path}: expected object, got ${describe(input)}`);
        return undefined;
      }
      const record = input as Record<string, unknown>;
      const before = faults.length;
      for (const key of Object.keys(record)) {
        if (!Object.hasOwn(shape, key)) faults.push(`${path}.${key}: unknown field`);
      }
      const out: Record<string, unknown> = {};
      for (const [key, schema] of Object.entries(shape)) {
        const raw = record[key];
        if (raw === undefined) {
          if (!schema.optional) faults.push(`${path}.${key}: required`);
          continue;
        }
        const value = schema.parse(raw, `${path}.${key}`, faults);
        if (value !== undefined) out[key] = value;
      }
      return faults.length === before ? (out as ObjOf<S>) : undefined;
    },
  };
}

/** A map of string keys to values of one schema, with bounded size. */
export function record<T>(value: Schema<T>, options: { maxKeys?: number } = {}): Schema<Record<string, T>> {
  const maxKeys = options.maxKeys ?? 32;
  return {
    parse(input, path, faults) {
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        faults.push(`${path}: expected object, got ${describe(input)}`);
        return undefined;
      }
      const entries = Object.entries(input as Record<string, unknown>);
      if (entries.length > maxKeys) {
        faults.push(`${path}: at most ${maxKeys} keys`);
        return undefined;
      }
      const out: Record<string, T> = {};
      let bad = false;
      for (const [key, raw] of entries) {
        if (key.length > 64) {
          faults.push(`${path}: key too long`);
          bad = true;
          continue;
        }
        const parsed = value.parse(raw, `${path}.${key}`, faults);
        if (parsed === undefined) bad = true;
        else out[key] = parsed;
      }
      return bad ? undefined : out;
    },
  };
}

/** A string or a number (SDP-derived codec parameters take either). */
export function strOrNum(): Schema<string | number> {
  const s = str({ maxLength: 512 });
  const n = num();
  return {
    parse(input, path, faults) {
      if (typeof input === 'string') return s.parse(input, path, faults);
      if (typeof input === 'number') return n.parse(input, path, faults);
      faults.push(`${path}: expected string or number, got ${describe(input)}`);
      return undefined;
    },
  };
}

/** Runs a schema at the root. */
export function parseWith<T>(schema: Schema<T>, input: unknown, path = 'data'): ParseResult<T> {
  const faults: string[] = [];
  const value = schema.parse(input, path, faults);
  if (value === undefined || faults.length > 0) return { ok: false, faults: faults.length ? faults : [`${path}: invalid`] };
  return { ok: true, value };
}
