// Response framing for the paced load generator (paced-load.ts): HTTP/1.x
// responses framed by Content-Length, which Volley/uWS and node:http send for
// fixed bodies. Chunked and close-delimited bodies are not supported (an error).
const CRLF2 = Buffer.from('\r\n\r\n');
const MAX_HEAD_BYTES = 16 * 1024;

/**
 * Incremental parser for Content-Length framed HTTP/1.x responses: a head may
 * be split over chunks, a chunk may hold several responses. Throws on
 * anything it cannot frame (the connection is then re-opened).
 */
export class ResponseParser {
  /** Bytes of an incomplete head carried over from the last chunk. */
  #partial: Buffer | undefined;
  /** Body bytes still expected; -1 while reading a head. */
  #remaining = -1;
  #status = 0;
  #close = false;

  feed(chunk: Buffer, onResponse: (status: number, close: boolean) => void): void {
    const buf = this.#partial ? Buffer.concat([this.#partial, chunk]) : chunk;
    this.#partial = undefined;
    let i = 0;
    for (;;) {
      if (this.#remaining < 0) {
        if (i >= buf.length) return;
        const end = buf.indexOf(CRLF2, i);
        if (end < 0) {
          if (buf.length - i > MAX_HEAD_BYTES) throw new Error(`response head over ${MAX_HEAD_BYTES} bytes`);
          this.#partial = buf.subarray(i);
          return;
        }
        this.#readHead(buf.toString('latin1', i, end));
        i = end + CRLF2.length;
      }
      const take = Math.min(this.#remaining, buf.length - i);
      i += take;
      this.#remaining -= take;
      if (this.#remaining > 0) return;
      this.#remaining = -1;
      onResponse(this.#status, this.#close);
    }
  }

  #readHead(head: string): void {
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    if (!status) throw new Error(`not an HTTP/1.x response: ${JSON.stringify(head.slice(0, 40))}`);
    this.#status = Number(status[1]);
    this.#close = /\r\nconnection:[ \t]*close/i.test(head);
    const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
    if (length) this.#remaining = Number(length[1]);
    else if (this.#status === 204 || this.#status === 304) this.#remaining = 0;
    else throw new Error(`HTTP ${this.#status} without Content-Length (chunked and close-delimited bodies are not supported)`);
  }
}
