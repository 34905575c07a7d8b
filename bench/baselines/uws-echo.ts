// Transport ceiling: uWebSockets.js reading each POST body fully and answering
// a fixed, pre-built JSON body of the same shape and size as Volley's answer.
// No JSON parsing, no inference: whatever Volley does beyond this is the cost
// of the real work, so Volley's req/s / echo's req/s says how close to the HTTP
// transport limit it gets on this machine.
//
//   --response-file <path>  the body to answer with (the bench writes Volley's
//                           real response for each scenario); default: the
//                           mlp_classifier response below.
import { readFileSync } from 'node:fs';
import uWS from 'uWebSockets.js';
import { flagValue, logListening, parseListenArgs } from './args.js';

// The real output of mlp_classifier for the bench body [5.1, 3.5, 1.4, 0.2]
// (float32 values printed as JS numbers, as Volley prints them; same key order
// as Volley's encoder, so the body is byte-for-byte the same size: 191 B).
const DEFAULT_RESPONSE = JSON.stringify({
  model_name: 'mlp_classifier',
  model_version: '1',
  outputs: [
    {
      name: 'probabilities',
      datatype: 'FP32',
      shape: [1, 3],
      data: [0.00014792451111134142, 0.7960471510887146, 0.20380492508411407],
    },
  ],
});

const responseFile = flagValue('response-file');
// Read once at start; parsed only to fail fast on a wrong file, then sent as is.
const RESPONSE = responseFile ? readFileSync(responseFile, 'utf8') : DEFAULT_RESPONSE;
JSON.parse(RESPONSE);

const app = uWS.App();

app.get('/v2/health/ready', (res) => {
  res.end();
});
app.get('/v2/health/live', (res) => {
  res.end();
});

app.post('/v2/models/:name/infer', (res) => {
  let aborted = false;
  let chunks: Buffer[] = [];
  res.onAborted(() => {
    aborted = true;
  });
  res.onData((chunk, isLast) => {
    // uWS reuses the chunk's memory after this callback returns, so copy it,
    // as a real server must before parsing.
    chunks.push(Buffer.from(chunk.slice(0)));
    if (!isLast || aborted) return;
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    chunks = [];
    if (body.length === 0) {
      res.writeStatus('400 Bad Request').end('{"error":"empty body"}');
      return;
    }
    res.cork(() => {
      res.writeHeader('Content-Type', 'application/json').end(RESPONSE);
    });
  });
});

app.any('/*', (res) => {
  res.writeStatus('404 Not Found').end('{"error":"not found"}');
});

const { host, port } = parseListenArgs();
let listenSocket: uWS.us_listen_socket | false = false;
app.listen(host, port, (token) => {
  if (!token) {
    console.error(`uws-echo: cannot listen on ${host}:${port}`);
    process.exit(1);
  }
  listenSocket = token;
  logListening(host, uWS.us_socket_local_port(token));
});

process.on('SIGTERM', () => {
  if (listenSocket) uWS.us_listen_socket_close(listenSocket);
  process.exit(0);
});
