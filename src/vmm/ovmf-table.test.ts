/**
 * The OVMF fixture (test/fixtures/ovmf: Debian's unmodified OVMF.fd (the X64 build with its variable store), Brotli-compressed, with
 * its provenance) and the GUIDed table at the end of its flash that QEMU reads to launch it as an
 * SEV-ES guest.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { brotliDecompressSync } from 'node:zlib';
import { guidText, parseOvmfTable, SEV_INFO_BLOCK_GUID, sevEsResetAddress } from './ovmf-table.js';

const DIR = new URL('../../test/fixtures/ovmf/', import.meta.url);
const provenance = JSON.parse(readFileSync(new URL('PROVENANCE.json', DIR), 'utf8')) as {
  version: string;
  size: number;
  sha256: string;
};
const flash = new Uint8Array(brotliDecompressSync(readFileSync(new URL('OVMF.fd.br', DIR))));

describe('the OVMF fixture and its GUIDed table', () => {
  it('is the image its provenance names (size, sha256)', () => {
    assert.equal(flash.length, provenance.size);
    assert.equal(createHash('sha256').update(flash).digest('hex'), provenance.sha256);
    assert.match(provenance.version, /^2022\.11-/);
  });

  it('has the SEV-ES reset block: APs start at its reset address', () => {
    const table = parseOvmfTable(flash);
    assert.ok(Array.isArray(table), String(table));
    assert.ok(table.some((e) => e.guid === SEV_INFO_BLOCK_GUID));
    assert.equal(sevEsResetAddress(table), 0x80_b004);
  });

  it('an image without the footer, or with a length running outside it, has no table (a reason)', () => {
    assert.match(String(parseOvmfTable(new Uint8Array(4096))), /no OVMF table footer/);
    const broken = flash.slice(flash.length - 4096);
    const dv = new DataView(broken.buffer);
    dv.setUint16(broken.length - 50, 0xffff, true);
    assert.match(String(parseOvmfTable(broken)), /runs outside/);
  });

  it('GUIDs read as text the way EFI writes them', () => {
    const b = Uint8Array.from([
      0xde, 0x71, 0xf7, 0x00, 0x7e, 0x1a, 0xcb, 0x4f, 0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e,
    ]);
    assert.equal(guidText(b), SEV_INFO_BLOCK_GUID);
  });
});
