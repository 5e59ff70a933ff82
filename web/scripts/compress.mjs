// Precompresses the built app so the server sends gzip or brotli without compressing per request.
// Output is byte-for-byte reproducible (gzip's header carries no name or time here), which the
// check that the committed build matches a fresh one relies on.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const dist = path.resolve(import.meta.dirname, '..', 'dist');
const compressible = /\.(js|css|html|svg|json|txt|webmanifest)$/;

for (const entry of fs.readdirSync(dist, { recursive: true })) {
  const file = path.join(dist, entry);
  if (!fs.statSync(file).isFile() || !compressible.test(file)) continue;
  const raw = fs.readFileSync(file);
  if (raw.length < 512) continue;
  const gz = zlib.gzipSync(raw, { level: 9 });
  const br = zlib.brotliCompressSync(raw, {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
    },
  });
  if (gz.length < raw.length) fs.writeFileSync(file + '.gz', gz);
  if (br.length < raw.length) fs.writeFileSync(file + '.br', br);
}
