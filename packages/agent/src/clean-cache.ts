// The clean-value cache. String values that a complete, match-free engine run has already seen (paths,
// query and route parameters, headers, cookie headers) repeat across requests (the same pages, browsers
// and session cookies): they are not sent to the engine again, and a request made only of such values
// skips the engine. A value is remembered only after a run with no match at all and no timeout, so
// every rule judged it clean, and only when every rule has a single condition, so that its verdict
// cannot depend on the other inputs of the request (the detector turns the cache off otherwise).

/** String values known clean in one field (the path, a header, a query parameter of one name…). */
export type Field = Map<string, true>;
/** Fields by name (query and route parameters, cookies, headers a ruleset reads by any name). */
export type Fields = Map<string, Field>;

/** A value that a run must judge before it can be remembered: in a field, or in a named field of `fields`. */
export type FreshValue = { readonly field: Field; readonly value: string } | { readonly fields: Fields; readonly name: string; readonly value: string };

/** A remembered value, oldest first in the ring: where it is, to forget it. */
interface Remembered {
  field: Field;
  value: string;
  /** The fields `field` belongs to under `name` (undefined for a field on its own). */
  owner: Fields | undefined;
  name: string | undefined;
}

/** Values longer than this are never cached (they rarely repeat, and would hold memory). */
const MAX_CACHED_LENGTH = 2048;

export class CleanValueCache {
  readonly uri: Field = new Map();
  readonly cookieHeader: Field = new Map();
  readonly headers: Fields = new Map();
  readonly query: Fields = new Map();
  readonly params: Fields = new Map();
  readonly cookies: Fields = new Map();
  /** The headers a ruleset names, one field each (same order as its list). */
  readonly headerFields: Field[];
  /** Whole query strings whose values are all known clean, per parser. */
  private readonly queryStrings = new Map<unknown, Field>();
  /** Remembered values in insertion order: the oldest is forgotten first (entries are reused). */
  private ring: Remembered[] = [];
  private ringAt = 0;
  /** Values that crossed into the engine only because they were not known clean (tests). */
  misses = 0;

  /**
   * @param max distinct values remembered at most (0: the cache is off)
   * @param headerCount headers of the ruleset's list
   */
  constructor(
    readonly max: number,
    headerCount: number,
  ) {
    this.headerFields = Array.from({ length: headerCount }, () => new Map<string, true>());
  }

  get enabled(): boolean {
    return this.max > 0;
  }

  /** Whether a query string, through this parser, is known to give only clean values. */
  knowsQuery(parser: unknown, rawQuery: string): boolean {
    return this.max > 0 && this.queryStrings.get(parser)?.has(rawQuery) === true;
  }

  /** Notes a query string: remembered now when all its values are known clean, else once `fresh` is judged clean. */
  noteQueryString(parser: unknown, rawQuery: string, allKnown: boolean, fresh: FreshValue[]): void {
    if (this.max === 0 || rawQuery.length > MAX_CACHED_LENGTH) return;
    let field = this.queryStrings.get(parser);
    if (field === undefined) this.queryStrings.set(parser, (field = new Map()));
    if (allKnown) this.remember([{ field, value: rawQuery }]);
    else fresh.push({ field, value: rawQuery });
  }

  /** Whether a value of a field must go to the engine; notes it in `fresh` if so (cacheable ones only). */
  needs(field: Field, value: string, length: number, fresh: FreshValue[]): boolean {
    if (this.max === 0 || length > MAX_CACHED_LENGTH) return true;
    if (field.has(value)) return false;
    this.misses++;
    fresh.push({ field, value });
    return true;
  }

  /** The same for a named field (a query or route parameter, a cookie, a header); `counted`: a miss counts. */
  needsNamed(fields: Fields, name: string, value: string, length: number, fresh: FreshValue[], counted: boolean): boolean {
    if (this.max === 0 || length > MAX_CACHED_LENGTH) return true;
    if (fields.get(name)?.has(value)) return false;
    if (counted) this.misses++;
    fresh.push({ fields, name, value });
    return true;
  }

  /** Remembers values a match-free, complete run has seen; beyond `max`, forgets the oldest. */
  remember(fresh: readonly FreshValue[]): void {
    const ring = this.ring;
    for (const f of fresh) {
      let field: Field;
      let owner: Fields | undefined;
      let name: string | undefined;
      if ('field' in f) field = f.field;
      else {
        owner = f.fields;
        name = f.name;
        let named = owner.get(name);
        if (!named) owner.set(name, (named = new Map()));
        field = named;
      }
      const value = f.value;
      if (field.has(value)) continue;
      if (ring.length >= this.max) {
        // forget the oldest value (and its field, once empty: names are not kept forever)
        const old = ring[this.ringAt]!;
        old.field.delete(old.value);
        if (old.owner && old.field.size === 0 && old.owner.get(old.name!) === old.field) old.owner.delete(old.name!);
        old.field = field;
        old.value = value;
        old.owner = owner;
        old.name = name;
        this.ringAt = this.ringAt + 1 >= ring.length ? 0 : this.ringAt + 1;
      } else {
        ring.push({ field, value, owner, name });
      }
      field.set(value, true);
    }
  }

  clear(): void {
    for (const f of [this.uri, this.cookieHeader, this.headers, this.query, this.params, this.cookies, ...this.headerFields]) f.clear();
    this.queryStrings.clear();
    this.ring = [];
    this.ringAt = 0;
  }
}
