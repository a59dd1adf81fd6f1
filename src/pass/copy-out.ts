/**
 * `COPY … TO STDOUT` read straight off the connection's socket. A node-postgres submittable:
 * while the COPY streams it takes the socket's data from node-postgres's own parser, walks
 * the protocol messages of each chunk in place and hands the CopyData bodies to a sink as
 * byte ranges of that chunk (no Buffer per message, no stream in between), then gives the
 * socket back at the first message that is not part of the copy-out (CopyDone, or an
 * ErrorResponse), so node-postgres itself reads how the statement ended.
 */
import type { EventEmitter } from 'node:events';
import { isChunkLender } from '../io/pg-socket.js';

/** Where the COPY data goes: the bytes of the COPY stream, in order, as ranges of socket chunks. */
export interface CopySink {
  /** Bytes `[start, end)` of `chunk` are the next bytes of the COPY data; `chunk` is valid during the call only. */
  write(chunk: Buffer, start: number, end: number): void;
  /** The chunk's bytes are all written: whatever still points into it must be used now. */
  flush(): void;
}

/** Backend message codes (the first byte of each message). */
const enum Code {
  CopyOutResponse = 0x48, // 'H'
  CopyData = 0x64, // 'd'
  NoticeResponse = 0x4e, // 'N'
  ParameterStatus = 0x53, // 'S'
  NotificationResponse = 0x41, // 'A'
}
/** A message's code byte and int32 length (which counts itself, not the code). */
const HEADER = 5;

/** The part of node-postgres's Connection this reader uses. */
interface PgConnection {
  readonly stream: EventEmitter;
  query(text: string): void;
}

type DataListener = (chunk: Buffer) => void;

/** One COPY … TO STDOUT, to be passed to `client.query()`; `done` settles when the statement has ended. */
export class CopyOut {
  readonly done: Promise<void>;
  private resolve!: () => void;
  private reject!: (error: Error) => void;
  private stream: EventEmitter | null = null;
  private pgListener: DataListener | null = null;
  private readonly listener: DataListener = (chunk) => this.onData(chunk);
  /** The code of the message being read, and its body bytes still to come. */
  private code = 0;
  private remaining = 0;
  /** A message header cut by the end of a chunk. */
  private readonly header = new Uint8Array(HEADER);
  private headerLength = 0;
  private failure: Error | null = null;

  constructor(
    readonly text: string,
    private readonly sink: CopySink,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** Called by node-postgres when the statement's turn comes; an error returned is handed back to handleError. */
  submit(connection: PgConnection): Error | undefined {
    const stream = connection.stream;
    const listeners = stream.listeners('data') as DataListener[];
    if (listeners.length !== 1) {
      return new Error(`cannot read the COPY: the connection has ${listeners.length} data listeners, expected node-postgres's one`);
    }
    this.stream = stream;
    this.pgListener = listeners[0]!;
    stream.removeListener('data', this.pgListener);
    stream.on('data', this.listener);
    // Chunks are used during the call only (the sink's contract), so the socket may lend them.
    if (isChunkLender(stream)) stream.lendChunks(true);
    connection.query(this.text);
    return undefined;
  }

  private onData(chunk: Buffer): void {
    if (this.failure) return;
    try {
      this.read(chunk);
    } catch (error) {
      // The sink refused the data (a malformed stream): the rest is ignored, and the caller
      // discards the connection, which is mid-protocol (node-postgres never gets it back).
      this.fail(error as Error);
    }
  }

  private read(chunk: Buffer): void {
    const end = chunk.length;
    let at = 0;
    while (at < end) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, end - at);
        if (this.code === Code.CopyData) this.sink.write(chunk, at, at + take);
        this.remaining -= take;
        at += take;
        continue;
      }
      let code: number;
      let length: number;
      if (this.headerLength > 0 || end - at < HEADER) {
        const take = Math.min(HEADER - this.headerLength, end - at);
        this.header.set(chunk.subarray(at, at + take), this.headerLength);
        this.headerLength += take;
        at += take;
        if (this.headerLength < HEADER) break;
        code = this.header[0]!;
        if (!isCopyOutMessage(code)) {
          // The header straddled two chunks: node-postgres gets it whole, with what follows.
          this.sink.flush();
          this.giveBack(Buffer.concat([this.header, chunk.subarray(at)]));
          return;
        }
        length = readInt32(this.header, 1);
        this.headerLength = 0;
      } else {
        code = chunk[at]!;
        if (!isCopyOutMessage(code)) {
          this.sink.flush();
          this.giveBack(chunk.subarray(at));
          return;
        }
        length = readInt32(chunk, at + 1);
        at += HEADER;
      }
      if (length < 4) throw new Error(`malformed protocol message (code ${code}, length ${length})`);
      this.code = code;
      this.remaining = length - 4;
    }
    this.sink.flush();
  }

  /** Returns the socket to node-postgres, with the bytes it has yet to parse. */
  private giveBack(rest: Buffer): void {
    const { stream, pgListener } = this;
    if (!stream || !pgListener) return;
    this.stream = null;
    this.pgListener = null;
    stream.removeListener('data', this.listener);
    stream.on('data', pgListener);
    // node-postgres may keep the bytes (a message cut at the chunk's end): a lent chunk is copied.
    if (isChunkLender(stream)) stream.lendChunks(false);
    if (rest.length > 0) pgListener(isChunkLender(stream) ? Buffer.from(rest) : rest);
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.reject(error);
  }

  // node-postgres calls these as the statement ends (after giveBack), or on a connection error.

  handleError(error: Error): void {
    // A lost connection may come while this still holds the socket, which is of no more use.
    this.stream?.removeListener('data', this.listener);
    if (isChunkLender(this.stream)) this.stream.lendChunks(false);
    this.stream = null;
    this.fail(error);
  }

  handleCommandComplete(): void {}

  handleReadyForQuery(): void {
    if (!this.failure) this.resolve();
  }

  // Messages a COPY never gets; a server that sent one would be in another protocol state.
  handleRowDescription(): void {
    this.fail(new Error('unexpected RowDescription during COPY'));
  }

  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyInResponse(): void {
    this.fail(new Error('unexpected CopyInResponse: not a COPY … TO STDOUT'));
  }
  handleCopyData(): void {}
}

/** Messages that belong to the copy-out: its start, its data, and what the server may slip in between. */
function isCopyOutMessage(code: number): boolean {
  return (
    code === Code.CopyData ||
    code === Code.CopyOutResponse ||
    code === Code.NoticeResponse ||
    code === Code.ParameterStatus ||
    code === Code.NotificationResponse
  );
}

function readInt32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!;
}
