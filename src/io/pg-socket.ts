/**
 * The socket of a plain (non-TLS) PostgreSQL connection, reading into one buffer of its own
 * reused for every read. A default socket allocates a fresh 64 KiB Buffer per read; a COPY of
 * 80 MiB then leaves tens of MiB of read chunks waiting for the garbage collector between
 * scavenges, which is most of a run's peak RSS (docs/performance.md).
 *
 * Reads still arrive as 'data' events. A reader that uses a chunk only during its 'data'
 * call (the COPY reader, src/pass/copy-out.ts) borrows the buffer itself; everyone else
 * (node-postgres's parser, which keeps a message cut at a chunk's end) gets a copy.
 */
import net from 'node:net';

/** libuv reads at most this much per read; the same size a default socket allocates. */
const READ_BUFFER_BYTES = 64 * 1024;

/** A socket whose 'data' chunks may be lent: valid only during the 'data' call. */
export interface ChunkLender {
  /** While on, 'data' chunks are views of the reused buffer; off (the default), copies. */
  lendChunks(on: boolean): void;
}

export function isChunkLender(stream: unknown): stream is ChunkLender {
  return typeof (stream as Partial<ChunkLender> | null)?.lendChunks === 'function';
}

/** A new, unconnected socket for node-postgres's `stream` option. */
export function reusedBufferSocket(): net.Socket & ChunkLender {
  let lending = false;
  // `onread` is documented as a connect option; net.Socket takes it at construction as well.
  const options: net.SocketConstructorOpts & net.ConnectOpts = {
    onread: {
      buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
      callback(length: number, buffer: Uint8Array) {
        const view = Buffer.from(buffer.buffer, buffer.byteOffset, length);
        socket.emit('data', lending ? view : Buffer.from(view));
        return true;
      },
    },
  };
  const socket = new net.Socket(options) as net.Socket & ChunkLender;
  socket.lendChunks = (on) => {
    lending = on;
  };
  return socket;
}
