/** Errors node's HTTP parser meets before the app sees a request (431, 400, 408) answered in the API's error envelope. */
import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorEnvelope } from '../api/errors.js';

/** Status and message for a parser error code (HPE_*, ERR_HTTP_*). */
export function clientErrorAnswer(code: string | undefined, maxHeaderSize: number): { status: number; message: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, message: `request headers are larger than ${Math.round(maxHeaderSize / 1024)} KiB` };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_HTTP_HEADERS_TIMEOUT':
      return { status: 408, message: 'the request did not arrive in time' };
    case 'HPE_INVALID_METHOD':
      return { status: 400, message: 'malformed HTTP request: unknown method' };
    default:
      return { status: 400, message: `malformed HTTP request${code ? ` (${code})` : ''}` };
  }
}

/** The raw HTTP/1.1 response carrying an envelope; the connection is closed after it. */
export function envelopeResponse(status: number, env: ErrorEnvelope): string {
  const body = JSON.stringify(env);
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

export function answerClientErrors(server: Server, maxHeaderSize: number): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A response already under way on this connection cannot be followed by another one: just close it.
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const { status, message } = clientErrorAnswer(err.code, maxHeaderSize);
    socket.end(envelopeResponse(status, { code: 'bad_request', message }));
  });
}
