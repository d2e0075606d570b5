// Test-only OTLP/HTTP metrics receiver: an independent decoder for what the
// agent's OTLP exporter sends.  It decodes every POST body with the protobufjs
// code that OpenTelemetry JS generates from the official opentelemetry-proto
// files (not with jobmeter's own proto), and appends one JSON line per request
// to OUT:
//   {"path", "content_type", "content_encoding", "request": <decoded, 64-bit
//    integers as strings, enums as names>}
// or {"path", "error"} when a body does not gunzip or decode (answered 400).
//
// Usage: node otlp_decode.js OUT PORT_FILE
//   listens on 127.0.0.1 on a free port and writes that port to PORT_FILE
//   (written to a temp name, then renamed, so readers never see half a number).
'use strict';
const fs = require('fs');
const http = require('http');
const zlib = require('zlib');
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root');

const Request = root.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
const Response = root.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse;
const MAX_BODY = 16 << 20;

const [out, portFile] = process.argv.slice(2);
if (!out || !portFile) {
  console.error('usage: node otlp_decode.js OUT PORT_FILE');
  process.exit(2);
}

function record(obj) {
  fs.appendFileSync(out, JSON.stringify(obj) + '\n');
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size <= MAX_BODY) chunks.push(c);
  });
  req.on('end', () => {
    const base = {
      path: req.url,
      method: req.method,
      content_type: req.headers['content-type'] || '',
      content_encoding: req.headers['content-encoding'] || '',
    };
    try {
      if (req.method !== 'POST') throw new Error('method ' + req.method);
      if (size > MAX_BODY) throw new Error('body over ' + MAX_BODY + ' bytes');
      let body = Buffer.concat(chunks);
      if (base.content_encoding === 'gzip') body = zlib.gunzipSync(body);
      const msg = Request.decode(body);
      const request = Request.toObject(msg, {
        longs: String, enums: String, bytes: String, defaults: false, oneofs: true,
      });
      record(Object.assign(base, { bytes: body.length, request }));
      const reply = Response.encode(Response.create({})).finish();
      res.writeHead(200, { 'Content-Type': 'application/x-protobuf' });
      res.end(Buffer.from(reply));
    } catch (e) {
      record(Object.assign(base, { error: String(e && e.message ? e.message : e) }));
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end('bad request\n');
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  const tmp = portFile + '.tmp';
  fs.writeFileSync(tmp, String(server.address().port));
  fs.renameSync(tmp, portFile);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
