/**
 * The x86 interpreter against the machine's /dev/kvm on seeded random instruction sequences
 * (test/oracle/x86-gen.ts), 1,000 programs per mode: 64-bit long mode (4-level paging), 32-bit
 * protected mode with flat segments (no paging; with 32-bit 4 KiB, 4 MiB or PAE paging where the
 * host can run it) and 16-bit real mode (data segments at different bases). Each program runs on
 * both backends through the same fd-interface VMM (x86-diff.ts), and the exits (port I/O and MMIO
 * included), the registers (all GPRs, RIP, RFLAGS), CR0/CR2/CR3/CR4/EFER, the whole segment
 * registers, GDTR/IDTR, XMM0-15 (KVM_GET_FPU), the data and stack pages, the page-table pages
 * (accessed/dirty bits) and the GDT page (accessed bits) must be identical. A mismatch is shrunk
 * to a minimal program, reported with its disassembly. SEVBOX_DIFF_N sets the number of programs
 * per mode, SEVBOX_DIFF_SEED the first seed, SEVBOX_DIFF_MODES the modes (long, protected, paged,
 * real). Where KVM cannot run a guest the suite skips with one line. Here the three modes take
 * about 1.5, 1.2 and 1.1 s (20,000 programs each: 30, 26 and 28 s). Every mode runs under both
 * engines of the CPU (test/x86/engines.ts): the interpreter alone, and every block compiled from
 * its first run (src/cpu/x86/compile/). The model's CPU computes the undefined flags as the host
 * CPU's vendor does (host.ts hostVendor; src/cpu/x86/alu.ts has AMD's and Intel's), since the
 * ALU instructions /dev/kvm runs here run on the host CPU; where the vendor is neither, the suite
 * skips with one line.
 *
 * This machine's /dev/kvm (kvm_pvm) runs the guest in KVM's instruction emulator, so only what
 * the emulator does as hardware would is generated (each seen here as stated):
 * - of SSE, the moves: it has no PXOR, MOVD/MOVQ, MOVSS/MOVSD, MOVLPS/MOVHPS, LDMXCSR/STMXCSR
 *   (emulation failure); and its KVM_SET_FPU XMM values do not reach the guest (it starts from
 *   zeros), so the programs load them; FXSAVE to an aligned operand shut the guest down;
 * - of the XSAVE feature set, nothing: XGETBV, XSAVE/XRSTOR (and XSAVE64, XSAVEOPT, XSAVEC) end in
 *   KVM_EXIT_INTERNAL_ERROR with CR4.OSXSAVE set or clear (hardware: the value, or #UD); nor XSETBV
 *   (KVM's emulation on both sides): its KVM_GET_SUPPORTED_CPUID has no XSAVE in leaf 1 (its leaf
 *   0xD.0 offers XCR0 0xe7), the model's has, so the two guests' CPUID already disagree on it;
 * - not CMPXCHG16B, POPCNT, BOUND, ARPL, DAA/AAA/AAS, ENTER with a nesting level
 *   (KVM_EXIT_INTERNAL_ERROR: the emulator refuses them), nor RDTSC (not repeatable);
 * - no 32-bit paging: kvm_pvm drops CR0.PG from KVM_SET_SREGS outside long mode (CR0 reads back
 *   0x33) and the guest shuts down at its first instruction, and a 32-bit guest's own MOV CR0 that
 *   sets PG shuts down there too, so the paged mode skips here (x86-diff.ts noPaging32);
 * - INT n, INT3, INTO and IRET in real mode only (in protected and long mode the emulator has
 *   none: KVM_EXIT_INTERNAL_ERROR), and not INT n ≥ 80h (the emulator sign-extends the vector and
 *   the guest never exits: the watchdog ends the run);
 * - ENTER only at an operand size equal to the stack's (em_enter pushes RBP at the stack's size:
 *   with 66h, or a 16-bit SS under 32-bit code, its ENTER and LEAVE disagree);
 * - POPF never sets AC outside real mode (kvm_pvm clears AC when it delivers an exception in
 *   protected or long mode; hardware does not);
 * - no UD2 once CS may have a base other than 0 (its #UD path then fails: internal error);
 * - no write of SYSENTER_ESP/EIP (what they keep above bit 31 is the vendor's: KVM on AMD keeps
 *   nothing, this one sign-extends from bit 56), nor an address canonical with 57 bits but not 48
 *   in LSTAR/CSTAR/KERNEL_GS_BASE (this host checks 57, the model's CPU has 48);
 * - no CPUID (the model's is its own AMD CPU's, not the host's).
 * INS/OUTS are generated: both sides emulate them (io_interception → kvm_emulate_instruction), one
 * KVM_EXIT_IO per OUTS element, INS reading ahead (count > 1) up to the page's end.
 * Not generated because the model lacks it: INS/OUTS with REX.W or on memory that is not RAM (the
 * model KVM's emulator fails them: KVM_EXIT_INTERNAL_ERROR), segment limit
 * violations (the interpreter checks no limits: a real-mode word at offset FFFFh is #GP on
 * /dev/kvm, a read past the segment on the model), AAM/AAD/DAS (the emulator's are its own C
 * versions, AAM's flags otherwise than the SDM's: long-mode.ts), SALC, LZCNT/TZCNT, LMSW, the
 * MTRR MSRs (all of which /dev/kvm runs).
 *
 * What it found (fixed; regressions in test/x86/differential-regressions.test.ts): in 64-bit mode,
 * PUSH imm pushed 4 bytes; shifts of memory by CL used CL's size; SHLD/SHRD r, r, CL shifted in CL;
 * BSWAP was missing; XADD r, r with one register kept the old value. In every mode: PUSH/POP Sreg
 * pushed 4 bytes in real mode (and 8 for 66h PUSH FS in 64-bit mode); a 32-bit PUSH Sreg wrote 4
 * bytes where KVM's emulator (and recent Intel cores) write the selector's 2; the TLB outlived
 * KVM_SET_SREGS, so a walk did not set the accessed bit the VMM had cleared; a segment load cached
 * the descriptor without its accessed bit; LES/LDS/LSS/LFS/LGS, PUSHA/POPA, BT* on a bit string
 * in memory, STR and SLDT were missing (#UD); an exception KVM injects as a fault (#UD) lacked
 * RFLAGS.RF in its frame; 66h LEAVE popped the mode's size; a non-canonical LSTAR, CSTAR or
 * KERNEL_GS_BASE was written instead of #GP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { modelPlatform } from '../../src/vmm/platform.js';
import { ENGINES } from '../x86/engines.js';
import { hostVendor, oracleHost } from './host.js';
import { compare, type Machine, noPaging32, openMachine, report, shrink } from './x86-diff.js';
import { generate, MODES, type Mode } from './x86-gen.js';

const host = oracleHost();
const cpu = hostVendor();

/** Programs per run (the target is ≥ 1000 per mode). */
const N = Number(process.env.SEVBOX_DIFF_N) || 1000;
const SEED = Number(process.env.SEVBOX_DIFF_SEED) || 1;
/** The modes to run (SEVBOX_DIFF_MODES=real,paged: those only). */
const RUN_MODES = (process.env.SEVBOX_DIFF_MODES?.split(',') ?? MODES) as Mode[];

describe('x86 interpreter ≡ /dev/kvm on random instruction sequences', {
  skip: host.skip || cpu.skip,
}, () => {
  let real: Machine;
  /** The model under each engine (test/x86/engines.ts): the interpreter, and every block compiled. */
  const models = new Map<string, Machine>();
  before(() => {
    const kvm = host.kvm!;
    real = openMachine({ kvm, memory: kvm.processMemory() });
    for (const engine of ENGINES) {
      const m = modelPlatform({ cpu: 'x86', x86: { ...engine.options, vendor: cpu.vendor! } });
      models.set(engine.name, openMachine({ kvm: m.kvm, memory: m.memory }));
    }
  });
  after(() => {
    real?.close();
    for (const m of models.values()) m.close();
  });

  for (const mode of RUN_MODES)
    for (const engine of ENGINES)
      test(`${mode} [${engine.name}]: ${N} programs from seed ${SEED}: exits, registers, sregs and memory match`, (t) => {
        const unable = mode === 'paged' ? noPaging32(real) : undefined;
        if (unable) {
          t.skip(unable);
          return;
        }
        const model = models.get(engine.name)!;
        const failures: string[] = [];
        for (let seed = SEED; seed < SEED + N && failures.length < 3; seed++) {
          const p = generate(seed, mode);
          if (compare(real, model, p).length === 0) continue;
          failures.push(report(real, model, shrink(real, model, p)));
        }
        assert.deepEqual(failures, []);
      });
});
