/**
 * What VMRUN of an SEV-ES guest takes from its VMSA besides the save area proper (src/cpu/vmsa.ts):
 * the GPRs and the floating-point area at sev_es_save_area's offsets, as sev_es_sync_vmsa writes them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gpr, newGprs } from './regs.js';
import { resetFpu } from './reset.js';
import {
  loadVmsaFpu,
  SAVE_FPREG_X87,
  SAVE_FPREG_XMM,
  SAVE_FPREG_YMM,
  SAVE_MXCSR,
  SAVE_R8,
  SAVE_RAX,
  SAVE_RDI,
  SAVE_RSP,
  SAVE_X87_DP,
  SAVE_X87_FCW,
  SAVE_X87_FOP,
  SAVE_X87_FSW,
  SAVE_X87_FTW,
  SAVE_X87_RIP,
} from './vmcb.js';
import { loadVmsaGprs } from './vmsa.js';

describe('loading an SEV-ES VMSA', () => {
  it('the GPRs: RAX and RSP in the VMCB layout, RCX..R15 where sev_es_save_area keeps them', () => {
    const page = new Uint8Array(4096);
    const v = new DataView(page.buffer);
    v.setBigUint64(SAVE_RAX, 0x1111_2222_3333_4444n, true);
    v.setBigUint64(SAVE_RSP, 0xffff_8000_0000_1000n, true);
    v.setBigUint64(SAVE_RDI, 0xabad_cafen, true);
    v.setBigUint64(SAVE_R8 + 7 * 8, 0x15n, true);
    const regs = newGprs();
    loadVmsaGprs(v, regs);
    assert.deepEqual(
      [gpr(regs, 0), gpr(regs, 4), gpr(regs, 7), gpr(regs, 15), gpr(regs, 1)],
      [0x1111_2222_3333_4444n, 0xffff_8000_0000_1000n, 0xabad_cafen, 0x15n, 0n],
    );
  });

  it('the x87, SSE and AVX state: control words, FIP/FDP/FOP, ST(i) from its 8 + 2 bytes, XMM0-15, YMM_Hi128', () => {
    const page = new Uint8Array(4096);
    const v = new DataView(page.buffer);
    v.setBigUint64(SAVE_X87_DP, 0x7fff_8587_a990n, true);
    v.setUint32(SAVE_MXCSR, 0x1f80, true);
    v.setUint16(SAVE_X87_FTW, 0x80, true);
    v.setUint16(SAVE_X87_FSW, 0x3800, true);
    v.setUint16(SAVE_X87_FCW, 0x37f, true);
    v.setUint16(SAVE_X87_FOP, 0x5dd, true);
    v.setBigUint64(SAVE_X87_RIP, 0x4026_71n, true);
    for (let i = 0; i < 80; i++) page[SAVE_FPREG_X87 + i] = i + 1;
    for (let i = 0; i < 256; i++) page[SAVE_FPREG_XMM + i] = i;
    page.fill(0xff, SAVE_FPREG_YMM, SAVE_FPREG_YMM + 256);
    const fpu = resetFpu();
    fpu.fpr.fill(0xee); // bytes 10-15 of each slot too: the VMSA has no room for them
    const ymmHi = new Uint8Array(256);
    loadVmsaFpu(v, fpu, ymmHi);
    assert.deepEqual(
      [fpu.fcw, fpu.fsw, fpu.ftwx, fpu.lastOpcode, fpu.lastIp, fpu.lastDp, fpu.mxcsr],
      [0x37f, 0x3800, 0x80, 0x5dd, 0x4026_71n, 0x7fff_8587_a990n, 0x1f80],
    );
    // ST(3): bytes 0-7 at 24, bytes 8-9 at 64 + 6.
    assert.deepEqual(
      [...fpu.fpr.subarray(48, 64)],
      [25, 26, 27, 28, 29, 30, 31, 32, 71, 72, 0, 0, 0, 0, 0, 0],
    );
    assert.deepEqual(
      [...fpu.xmm],
      Array.from({ length: 256 }, (_, i) => i),
    );
    assert.ok(ymmHi.every((b) => b === 0xff));
  });
});
