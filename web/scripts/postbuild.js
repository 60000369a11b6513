// After `vite build`: gzip every file of dist (the binary serves the .gz as is) and write
// dist/SOURCE_HASH, the SHA-1 of the sources the build came from, which a Rust test recomputes
// to fail when web/dist is stale against web/.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { readdirSync, readFileSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');

function walk(dir, out = []) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

let total = 0;
for (const f of walk(dist)) {
  if (f.endsWith('.gz') || f.endsWith('SOURCE_HASH')) { unlinkSync(f); continue; }
  const gz = gzipSync(readFileSync(f), { level: 9 });
  writeFileSync(f + '.gz', gz);
  unlinkSync(f);
  total += gz.length;
  console.log(`${relative(dist, f)}.gz ${gz.length} bytes`);
}
console.log(`dashboard: ${total} bytes gzip in all (budget 60 KB)`);

// Must match src/web/assets.rs `source_hash`: sorted relative paths, each as
// "path\0" + contents + "\0".
const inputs = ['index.html', 'package.json', 'package-lock.json', 'vite.config.js']
  .concat(walk(join(root, 'src')).map((p) => relative(root, p)))
  .sort();
const h = createHash('sha1');
for (const p of inputs) {
  h.update(p + '\0');
  h.update(readFileSync(join(root, p)));
  h.update('\0');
}
writeFileSync(join(dist, 'SOURCE_HASH'), h.digest('hex') + '\n');
