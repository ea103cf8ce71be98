/**
 * The automatic exits of an SEV-ES guest (sev-es-exits.ts): AMD APM vol. 2 15.35.4, Table 15-33,
 * and the exit codes Linux's #VC handler expects as error codes (vc_handle_exitcode and vc_is_db in
 * arch/x86/coco/sev/vc-handle.c), which must all be non-automatic.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AC_VECTOR,
  DB_VECTOR,
  GP_VECTOR,
  MC_VECTOR,
  SVM_EXIT_CPUID,
  SVM_EXIT_CR0_WRITE_TRAP,
  SVM_EXIT_CR8_WRITE_TRAP,
  SVM_EXIT_EFER_WRITE_TRAP,
  SVM_EXIT_ERR,
  SVM_EXIT_EXCP_BASE,
  SVM_EXIT_HLT,
  SVM_EXIT_INVD,
  SVM_EXIT_IOIO,
  SVM_EXIT_MONITOR,
  SVM_EXIT_MSR,
  SVM_EXIT_MWAIT,
  SVM_EXIT_NPF,
  SVM_EXIT_RDPMC,
  SVM_EXIT_RDTSC,
  SVM_EXIT_RDTSCP,
  SVM_EXIT_READ_DR7,
  SVM_EXIT_VMGEXIT,
  SVM_EXIT_VMMCALL,
  SVM_EXIT_WBINVD,
  SVM_EXIT_WRITE_DR7,
  SVM_EXIT_XSETBV,
  svmExitCodeName,
  UD_VECTOR,
} from '../uapi/svm.js';
import { SEV_ES_AUTOMATIC_EXITS, sevEsExitIsAutomatic, X86_TRAP_VC } from './sev-es-exits.js';

describe('SEV-ES automatic exits (APM vol. 2, Table 15-33)', () => {
  it('are exactly the table: #MC, INTR, NMI, SMI, INIT, VINTR, PAUSE, HLT, SHUTDOWN, the EFER and CR write traps, BUSLOCK, IDLE_HLT, NPF, VMGEXIT and the VMRUN failures', () => {
    const expected = [
      0x52,
      0x60,
      0x61,
      0x62,
      0x63,
      0x64,
      0x77,
      0x78,
      0x7f,
      0x8f,
      ...Array.from({ length: 16 }, (_, n) => 0x90 + n),
      0xa5,
      0xa6,
      0x400,
      0x403,
      -1,
      -2,
      -3,
      -4,
    ];
    assert.deepEqual(
      [...SEV_ES_AUTOMATIC_EXITS].sort((a, b) => a - b),
      expected.sort((a, b) => a - b),
    );
    assert.equal(SEV_ES_AUTOMATIC_EXITS.has(SVM_EXIT_ERR), true);
    for (const code of [SVM_EXIT_EFER_WRITE_TRAP, SVM_EXIT_CR0_WRITE_TRAP, SVM_EXIT_CR8_WRITE_TRAP])
      assert.equal(sevEsExitIsAutomatic(code), true, svmExitCodeName(code));
  });

  it('VMGEXIT and HLT exit; #VC is vector 29', () => {
    assert.equal(sevEsExitIsAutomatic(SVM_EXIT_VMGEXIT), true);
    assert.equal(sevEsExitIsAutomatic(SVM_EXIT_HLT), true);
    assert.equal(X86_TRAP_VC, 29);
  });

  it('a nested page fault is automatic unless the error code has the reserved-bit flag (MMIO: #VC 0x400)', () => {
    assert.equal(sevEsExitIsAutomatic(SVM_EXIT_NPF, 0b0111), true, 'present, write, user');
    assert.equal(sevEsExitIsAutomatic(SVM_EXIT_NPF, 0b1001), false, 'present + RSVD');
  });

  it("every exit code Linux's #VC handler takes is a non-automatic exit", () => {
    // vc_handle_exitcode's cases, plus #DB (vc_is_db) and #AC (vc_handle_trap_ac).
    const vcCodes = [
      SVM_EXIT_READ_DR7,
      SVM_EXIT_WRITE_DR7,
      SVM_EXIT_EXCP_BASE + AC_VECTOR,
      SVM_EXIT_EXCP_BASE + DB_VECTOR,
      SVM_EXIT_RDTSC,
      SVM_EXIT_RDTSCP,
      SVM_EXIT_RDPMC,
      SVM_EXIT_INVD,
      SVM_EXIT_CPUID,
      SVM_EXIT_IOIO,
      SVM_EXIT_MSR,
      SVM_EXIT_VMMCALL,
      SVM_EXIT_WBINVD,
      SVM_EXIT_MONITOR,
      SVM_EXIT_MWAIT,
    ];
    for (const code of vcCodes) assert.equal(sevEsExitIsAutomatic(code), false, svmExitCodeName(code));
    assert.equal(sevEsExitIsAutomatic(SVM_EXIT_NPF, 0b1000), false, 'NPF with RSVD (vc_handle_mmio)');
  });

  it('other exceptions and instruction intercepts are non-automatic too', () => {
    for (const code of [
      SVM_EXIT_EXCP_BASE + UD_VECTOR,
      SVM_EXIT_EXCP_BASE + GP_VECTOR,
      SVM_EXIT_XSETBV,
      0x00, // CR0 read
      0x10, // CR0 write
    ])
      assert.equal(sevEsExitIsAutomatic(code), false, svmExitCodeName(code));
    assert.equal(
      sevEsExitIsAutomatic(SVM_EXIT_EXCP_BASE + MC_VECTOR),
      true,
      '#MC is the one automatic exception',
    );
  });
});
