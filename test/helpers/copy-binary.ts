/**
 * Writes PostgreSQL's binary COPY format from values made in a test (the inverse of
 * src/pass/copy-parser.ts, written independently from the format's documentation).
 */

export type CopyValue =
  | { readonly int8: bigint }
  | { readonly text: string }
  | { readonly uuid: string }
  | null;

function field(value: CopyValue): Buffer {
  if (value === null) {
    const length = Buffer.alloc(4);
    length.writeInt32BE(-1);
    return length;
  }
  let data: Buffer;
  if ('int8' in value) {
    data = Buffer.alloc(8);
    data.writeBigInt64BE(value.int8);
  } else if ('text' in value) {
    data = Buffer.from(value.text, 'utf8');
  } else {
    data = Buffer.from(value.uuid.replaceAll('-', ''), 'hex');
  }
  const length = Buffer.alloc(4);
  length.writeInt32BE(data.length);
  return Buffer.concat([length, data]);
}

/** A whole COPY stream: signature, flags, an optional header extension, the tuples, the trailer. */
export function binaryCopy(rows: ReadonlyArray<readonly CopyValue[]>, extension = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(8);
  header.writeInt32BE(0, 0);
  header.writeInt32BE(extension.length, 4);
  const tuples = rows.map((row) => {
    const count = Buffer.alloc(2);
    count.writeInt16BE(row.length);
    return Buffer.concat([count, ...row.map(field)]);
  });
  const trailer = Buffer.alloc(2);
  trailer.writeInt16BE(-1);
  return Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), header, extension, ...tuples, trailer]);
}

/** Microseconds since 2000-01-01 of an ISO instant (independent of src/lib/micros.ts). */
export function pgMicros(iso: string): bigint {
  return BigInt(Date.parse(iso) - Date.parse('2000-01-01T00:00:00Z')) * 1000n;
}
