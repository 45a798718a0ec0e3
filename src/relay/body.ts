// Reading and parsing a relay request body: at most MAX_BODY_BYTES (counted as it arrives, whatever
// Content-Length claims), valid UTF-8 only, nesting at most MAX_JSON_DEPTH (checked on the text BEFORE
// JSON.parse, so hostile nesting costs one linear scan and no recursion anywhere).

import type { IncomingMessage } from 'node:http';
import { MAX_BODY_BYTES, MAX_JSON_DEPTH } from './limits.ts';

export class BodyError extends Error {
  constructor(
    readonly status: 400 | 413,
    message: string,
  ) {
    super(message);
  }
}

/** The body's bytes; BodyError 413 past `max` (the rest of the upload is not read). */
export function readBody(req: IncomingMessage, max = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      reject(new BodyError(413, `body over ${max} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > max) {
        done = true;
        req.pause();
        reject(new BodyError(413, `body over ${max} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.on('error', (err) => {
      if (done) return;
      done = true;
      reject(err);
    });
  });
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Deepest nesting of a JSON text, counting brackets outside strings (stops early past `limit`). */
export function jsonDepth(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** The parsed JSON of a body; BodyError 400 for invalid UTF-8, nesting over MAX_JSON_DEPTH or invalid JSON. */
export function parseJsonBody(bytes: Buffer): unknown {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new BodyError(400, 'body is not valid UTF-8');
  }
  const depth = jsonDepth(text);
  if (depth > MAX_JSON_DEPTH) throw new BodyError(400, `JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  try {
    // JSON.parse defines `__proto__` as an own property (no prototype is ever set from input); the
    // values an event carries are copied into prototype-less objects by the mapping (mapping.ts)
    return JSON.parse(text) as unknown;
  } catch {
    throw new BodyError(400, 'body is not JSON');
  }
}
