/**
 * The COPY reader at the protocol level, on messages made here: whatever chunks the socket
 * cuts the stream into, the sink gets exactly the CopyData bodies, and node-postgres gets
 * back every byte from the first message that is not part of the copy-out.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { CopyOut, type CopySink } from '../../src/pass/copy-out.js';

/** A backend message: its code, its int32 length (itself included), its body. */
function message(code: string, body: Buffer | string = Buffer.alloc(0)): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  const header = Buffer.alloc(5);
  header.write(code, 0, 'latin1');
  header.writeInt32BE(bytes.length + 4, 1);
  return Buffer.concat([header, bytes]);
}

const COPY_DATA = [Buffer.from('PGCOPY\n\xff\r\n\0 first', 'latin1'), Buffer.from('second row'), Buffer.alloc(0), Buffer.from([0xff, 0xff])];
const END = Buffer.concat([message('c'), message('C', 'COPY 2\0'), message('Z', 'I')]);

/** A socket, node-postgres's data listener on it (recording what it is given), and a sink recording ranges. */
function harness(sinkWrite?: (bytes: Buffer) => void) {
  const stream = new EventEmitter();
  const givenBack: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => givenBack.push(Buffer.from(chunk)));
  const written: Buffer[] = [];
  let flushes = 0;
  const sink: CopySink = {
    write(chunk, start, end) {
      const bytes = Buffer.from(chunk.subarray(start, end));
      sinkWrite?.(bytes);
      written.push(bytes);
    },
    flush() {
      flushes++;
    },
  };
  const sent: string[] = [];
  return { stream, givenBack, written, sink, sent, flushes: () => flushes, connection: { stream, query: (text: string) => sent.push(text) } };
}

/** `stream` cut into chunks at `cuts`, each a fresh buffer overwritten after it was handled. */
function feed(emitter: EventEmitter, stream: Buffer, cuts: readonly number[]): void {
  let from = 0;
  for (const cut of [...cuts, stream.length]) {
    const chunk = Buffer.from(stream.subarray(from, cut));
    emitter.emit('data', chunk);
    chunk.fill(0xee);
    from = cut;
  }
}

describe('CopyOut', () => {
  const copyOut = Buffer.concat([
    message('H', Buffer.from([1, 0, 1, 0, 1])),
    message('d', COPY_DATA[0]),
    message('N', 'SNOTICE\0Mslow\0\0'),
    message('d', COPY_DATA[1]),
    message('S', 'application_name\0x\0'),
    message('d', COPY_DATA[2]),
    message('d', COPY_DATA[3]),
  ]);
  const stream = Buffer.concat([copyOut, END]);

  it('sends the statement, passes the CopyData bodies on, and gives node-postgres the rest, however the stream is cut', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const { stream: socket, givenBack, written, sink, sent, connection } = harness();
      const copy = new CopyOut('COPY x TO STDOUT (FORMAT binary)', sink);
      expect(copy.submit(connection)).toBeUndefined();
      expect(sent).toEqual(['COPY x TO STDOUT (FORMAT binary)']);
      feed(socket, stream, cut === 0 || cut === stream.length ? [] : [cut]);
      expect(Buffer.concat(written), `cut at ${cut}`).toEqual(Buffer.concat(COPY_DATA));
      expect(Buffer.concat(givenBack), `cut at ${cut}`).toEqual(END);
      // node-postgres's listener is back, alone.
      expect(socket.listenerCount('data')).toBe(1);
    }
    const everyByte = Array.from({ length: stream.length - 1 }, (_, index) => index + 1);
    const { stream: socket, givenBack, written, sink, connection, flushes } = harness();
    new CopyOut('COPY', sink).submit(connection);
    feed(socket, stream, everyByte);
    expect(Buffer.concat(written)).toEqual(Buffer.concat(COPY_DATA));
    expect(Buffer.concat(givenBack)).toEqual(END);
    // A flush at the end of every chunk the reader kept, before it gave the socket back.
    expect(flushes()).toBeGreaterThan(copyOut.length - 1);
  });

  it('settles when node-postgres reports the statement ended, or failed', async () => {
    const ended = harness();
    const copy = new CopyOut('COPY', ended.sink);
    copy.submit(ended.connection);
    copy.handleCommandComplete();
    copy.handleReadyForQuery();
    await expect(copy.done).resolves.toBeUndefined();

    const failed = harness();
    const refused = new CopyOut('COPY', failed.sink);
    refused.submit(failed.connection);
    failed.stream.emit('data', message('E', 'SERROR\0C42809\0Mcannot copy from view\0\0'));
    // The ErrorResponse is node-postgres's to parse: it reports it back through handleError.
    expect(Buffer.concat(failed.givenBack).subarray(0, 1).toString()).toBe('E');
    refused.handleError(Object.assign(new Error('cannot copy from view'), { code: '42809' }));
    await expect(refused.done).rejects.toMatchObject({ code: '42809' });
  });

  it('gives an ErrorResponse mid-COPY back to node-postgres, from its first byte', () => {
    const error = message('E', 'SERROR\0C57014\0Mcanceling statement\0\0');
    const { stream: socket, givenBack, written, sink, connection } = harness();
    new CopyOut('COPY', sink).submit(connection);
    feed(socket, Buffer.concat([message('H', Buffer.from([1, 0, 0])), message('d', 'abc'), error, message('Z', 'I')]), [14]);
    expect(Buffer.concat(written).toString()).toBe('abc');
    expect(Buffer.concat(givenBack)).toEqual(Buffer.concat([error, message('Z', 'I')]));
  });

  it('stops at a sink that refuses the data: the statement fails, and node-postgres is not handed a stream cut mid-message', async () => {
    const { stream: socket, givenBack, sink, connection } = harness((bytes) => {
      if (bytes.toString().includes('second')) throw new Error('binary COPY tuple has 3 fields, expected 2');
    });
    const copy = new CopyOut('COPY', sink);
    copy.submit(connection);
    feed(socket, stream, []);
    await expect(copy.done).rejects.toThrow(/3 fields, expected 2/);
    expect(givenBack).toEqual([]);
  });

  it('refuses a connection whose socket it cannot take over', () => {
    const { stream: socket, sink, connection } = harness();
    socket.on('data', () => undefined);
    expect(new CopyOut('COPY', sink).submit(connection)?.message).toMatch(/2 data listeners/);
  });

  it('borrows a lending socket’s chunks only while it reads the copy-out, and hands node-postgres a copy of the rest', () => {
    for (const cut of [0, copyOut.length - 2, copyOut.length + 3]) {
      const lends: boolean[] = [];
      const socket = Object.assign(new EventEmitter(), { lendChunks: (on: boolean) => lends.push(on) });
      // As node-postgres's parser may: keep the chunk itself (a message cut at its end).
      const kept: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => kept.push(chunk));
      const { written, sink } = harness();
      new CopyOut('COPY', sink).submit({ stream: socket, query: () => undefined });
      expect(lends).toEqual([true]);
      // `feed` overwrites each chunk once handled, as the reused read buffer is.
      feed(socket, stream, cut === 0 ? [] : [cut]);
      expect(Buffer.concat(written), `cut at ${cut}`).toEqual(Buffer.concat(COPY_DATA));
      expect(lends, `cut at ${cut}`).toEqual([true, false]);
      expect(Buffer.concat(kept), `cut at ${cut}`).toEqual(END);
    }
  });

  it('a lost connection stops the lending', () => {
    const lends: boolean[] = [];
    const socket = Object.assign(new EventEmitter(), { lendChunks: (on: boolean) => lends.push(on) });
    socket.on('data', () => undefined);
    const copy = new CopyOut('COPY', harness().sink);
    copy.submit({ stream: socket, query: () => undefined });
    copy.handleError(new Error('Connection terminated unexpectedly'));
    void copy.done.catch(() => undefined);
    expect(lends).toEqual([true, false]);
  });

  it('a lost connection fails the statement and releases the socket', async () => {
    const { stream: socket, sink, connection } = harness();
    const copy = new CopyOut('COPY', sink);
    copy.submit(connection);
    socket.emit('data', message('H', Buffer.from([1, 0, 0])));
    copy.handleError(new Error('Connection terminated unexpectedly'));
    await expect(copy.done).rejects.toThrow(/terminated unexpectedly/);
    expect(socket.listenerCount('data')).toBe(0);
  });
});
