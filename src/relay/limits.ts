// What the relay accepts from an agent (docs/relay-protocol.md): everything an outsider controls is
// bounded here, in one place.

/** Largest request body (bytes): 413 beyond. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Most events in one POST /v1/events: 413 beyond. */
export const MAX_EVENTS = 500;
/** Deepest JSON nesting of a whole request body (the event's request body may nest 20 levels, inside ~5 of envelope). */
export const MAX_JSON_DEPTH = 32;
/** Deepest nesting kept of a request event's parsed body (what the agents send: depth 20); deeper values are dropped. */
export const MAX_BODY_DEPTH = 20;
/** Strings of a request event's body, query, params, cookies are cut to this many characters (as the agents cut them: 16 KiB). */
export const MAX_VALUE_CHARS = 16 * 1024;
/** Most values (leaves and containers) kept of one request event's body; the rest are dropped. */
export const MAX_BODY_NODES = 10_000;
/** Most entries of headers, query, path params or cookies kept. */
export const MAX_ENTRIES = 256;
/** Longest header or parameter name kept (characters); longer entries are dropped. */
export const MAX_NAME_CHARS = 256;
/** Longest request target (characters): an event with a longer uri is rejected (Node's own limit is 16 KiB of headers). */
export const MAX_URI_CHARS = 16 * 1024;
/** Longest method and IP address (characters): the record's bounds (identity.ts MAX_REQUEST_FIELD_BYTES). */
export const MAX_METHOD_CHARS = 16;
export const MAX_IP_CHARS = 64;
/** Longest custom event type (UTF-8 bytes), as the protocol says. */
export const MAX_TYPE_BYTES = 64;
/** Longest Authorization header considered (characters). */
export const MAX_TOKEN_CHARS = 1024;
