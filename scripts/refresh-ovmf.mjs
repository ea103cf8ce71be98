#!/usr/bin/env node
/**
 * Refresh the OVMF fixture (test/fixtures/ovmf) from Debian's `ovmf` package, as QEMU keeps its
 * pc-bios blobs: the unmodified OVMF.fd, Brotli-compressed, with its provenance (package, version,
 * sha256 of the image) and the package's copyright file (edk2: BSD-2-Clause-Patent). OVMF.fd is the
 * 2 MB X64 build with its variable store in the same image, what an SEV-ES guest boots from (`-bios`:
 * flash the host cannot emulate under encryption is not an option). OVMF_CODE.fd is the same code
 * without the variable store (a separate pflash), and OVMF_CODE_4M.fd is Debian's Ia32X64 build,
 * whose reset vector enters a 32-bit SEC without paging, where an SEV-ES guest has no shared page
 * for a GHCB.
 * Needs apt-get and dpkg-deb (Debian). Usage: node scripts/refresh-ovmf.mjs
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, constants } from 'node:zlib';

const OUT = new URL('../test/fixtures/ovmf/', import.meta.url);
const IMAGE = 'usr/share/ovmf/OVMF.fd';
const work = mkdtempSync(join(tmpdir(), 'ovmf-'));
execFileSync('apt-get', ['download', 'ovmf'], { cwd: work, stdio: 'inherit' });
const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
if (!deb) throw new Error('apt-get download ovmf gave no .deb');
execFileSync('dpkg-deb', ['-x', deb, 'x'], { cwd: work });
const version = execFileSync('dpkg-deb', ['-f', deb, 'Version'], { cwd: work, encoding: 'utf8' }).trim();
const image = readFileSync(join(work, 'x', IMAGE));
const compressed = brotliCompressSync(image, {
  params: {
    [constants.BROTLI_PARAM_QUALITY]: 11,
    [constants.BROTLI_PARAM_LGWIN]: 24,
    [constants.BROTLI_PARAM_SIZE_HINT]: image.length,
  },
});
writeFileSync(new URL('OVMF.fd.br', OUT), compressed);
writeFileSync(new URL('copyright', OUT), readFileSync(join(work, 'x/usr/share/doc/ovmf/copyright')));
const provenance = {
  package: 'ovmf',
  version,
  distribution: 'Debian 12 (bookworm)',
  file: `/${IMAGE}`,
  size: image.length,
  sha256: createHash('sha256').update(image).digest('hex'),
  license: 'BSD-2-Clause-Patent (edk2); see copyright',
  compressed: 'OVMF.fd.br (Brotli, quality 11)',
};
writeFileSync(new URL('PROVENANCE.json', OUT), `${JSON.stringify(provenance, null, 2)}\n`);
console.log(`test/fixtures/ovmf: ovmf ${version}, ${image.length} bytes, sha256 ${provenance.sha256}`);
