/**
 * Control-register intercepts (cr.ts) against the current kernel: cr_interception with decode
 * assist (MOV to/from CR0, CR3, CR4, CR8, the selective CR0 write; LMSW/CLTS need the emulator),
 * kvm_set_cr0/cr3/cr4/cr8's #GP cases, svm_set_cr0's long-mode activation and CR0 intercepts,
 * cr8_write_interception's KVM_EXIT_SET_TPR, kvm_register_read/write's 32-bit operands outside
 * 64-bit mode, and set_efer for a guest's WRMSR. The CPU is a HardwareExits replaying the #VMEXITs
 * an SVM CPU reports for the instructions; KVM is reached through the vCPU fd.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  INTERCEPT_CR0_READ,
  INTERCEPT_CR0_WRITE,
  INTERCEPT_SELECTIVE_CR0,
  SAVE_CS,
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_VALID,
  SVM_EVTINJ_VALID_ERR,
  VCPU_REGS_RAX,
  VCPU_REGS_RBX,
  VCPU_REGS_RCX,
  VCPU_REGS_RDX,
  VCPU_REGS_RSI,
} from '../cpu/backend.js';
import { KVM_EXIT_SET_TPR, KVM_INTERNAL_ERROR_EMULATION } from '../uapi/exit-reasons.js';
import { KVM_RUN_OFF_CR8 } from '../uapi/kvm-run.js';
import { APIC_TASKPRI } from '../uapi/lapic.js';
import {
  GP_VECTOR,
  SVM_EXIT_CR0_SEL_WRITE,
  SVM_EXIT_MSR,
  SVM_EXIT_READ_CR0,
  SVM_EXIT_READ_CR3,
  SVM_EXIT_READ_CR4,
  SVM_EXIT_READ_CR8,
  SVM_EXIT_WRITE_CR0,
  SVM_EXIT_WRITE_CR3,
  SVM_EXIT_WRITE_CR4,
  SVM_EXIT_WRITE_CR8,
} from '../uapi/svm.js';
import { kvmRegisterRead, kvmRegisterWrite } from './cache-regs.js';
import { expectExit, expectFailed, HVA, type HwExit, hardwareExitsVm, ok } from './test-util.js';

/** exit_info_1 of a MOV CRn with decode assist: bit 63 valid, the GPR in bits 3:0. */
const mov = (reg: number): bigint => (1n << 63n) | BigInt(reg);
const RIP0 = 0xfff0n;
const GP0 = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | SVM_EVTINJ_VALID_ERR | GP_VECTOR;

const CR0_PE = 1n;
const CR0_ET = 0x10n;
const CR0_NW = 1n << 29n;
const CR0_CD = 1n << 30n;
const CR0_PG = 1n << 31n;
const CR4_PAE = 0x20n;
const CR4_PCIDE = 1n << 17n;
const CR4_OSXSAVE = 1n << 18n;
const CR4_PKE = 1n << 22n;
const EFER_LME = 0x100n;
const EFER_LMA = 0x400n;

/**
 * Run `exits` (each followed by nothing: the CPU halts after the script) on a fresh vCPU prepared by
 * `setup`; returns the env after KVM_RUN returned the HLT exit.
 */
function runExits(
  exits: HwExit[],
  opts: Parameters<typeof hardwareExitsVm>[1] & {
    regs?: Partial<Record<'rax' | 'rbx' | 'rcx' | 'rdx' | 'rsi', bigint>>;
  } = {},
  setup?: (env: ReturnType<typeof hardwareExitsVm>) => void,
) {
  const env = hardwareExitsVm(exits, opts);
  if (opts.regs) ok(env.vcpuFd.setRegs({ ...ok(env.vcpuFd.getRegs()), ...opts.regs }));
  setup?.(env);
  expectExit(env.vcpuFd, 'Hlt');
  return env;
}

/** The event the CPU found in event_inj at its second VMRUN (the one after the scripted exit). */
const injectedAfterFirst = (env: ReturnType<typeof hardwareExitsVm>) => env.cpu.entries[1]!;

describe('cr_interception: MOV from CRn (kvm_read_cr0/3/4, kvm_get_cr8)', () => {
  it('MOV RBX, CR0 in 64-bit mode: RBX = CR0, RIP moves to next_rip', () => {
    const env = runExits([{ code: SVM_EXIT_READ_CR0, info1: mov(VCPU_REGS_RBX), len: 3 }], {
      mode: 64,
      regs: { rbx: 0xdead_beef_dead_beefn },
    });
    const regs = ok(env.vcpuFd.getRegs());
    assert.equal(regs.rbx, ok(env.vcpuFd.getSregs()).cr0);
    assert.equal(regs.rip, RIP0 + 3n + 1n, 'past the MOV and the HLT');
  });

  it('outside 64-bit mode kvm_register_write writes 32 bits: bits 63:32 of the GPR are cleared', () => {
    const env = runExits([{ code: SVM_EXIT_READ_CR0, info1: mov(VCPU_REGS_RSI), len: 3 }], {
      regs: { rsi: 0xdead_beef_dead_beefn },
    });
    assert.equal(ok(env.vcpuFd.getRegs()).rsi, 0x6000_0010n, "RESET's CR0, zero-extended");
  });

  it('MOV from CR3, CR4 and CR8 read the save area and V_TPR', () => {
    const env = runExits(
      [
        { code: SVM_EXIT_READ_CR3, info1: mov(VCPU_REGS_RAX), len: 3 },
        { code: SVM_EXIT_READ_CR4, info1: mov(VCPU_REGS_RCX), len: 3 },
        { code: SVM_EXIT_READ_CR8, info1: mov(VCPU_REGS_RDX), len: 4 },
      ],
      { mode: 64 },
      (e) => {
        const s = ok(e.vcpuFd.getSregs());
        ok(e.vcpuFd.setSregs({ ...s, cr3: 0x5000n, cr8: 7n }));
      },
    );
    const regs = ok(env.vcpuFd.getRegs());
    assert.deepEqual([regs.rax, regs.rcx, regs.rdx], [0x5000n, CR4_PAE, 7n]);
    assert.equal(regs.rip, RIP0 + 10n + 1n);
  });
});

describe('cr_interception: MOV to CR0 (kvm_set_cr0, svm_set_cr0)', () => {
  it('sets CR0 with ET forced to 1 and undefined bits dropped; RIP moves on', () => {
    const env = runExits([{ code: SVM_EXIT_WRITE_CR0, info1: mov(VCPU_REGS_RAX), len: 3 }], {
      regs: { rax: CR0_CD | CR0_PE | (1n << 6n) },
    });
    assert.equal(ok(env.vcpuFd.getSregs()).cr0, CR0_CD | CR0_ET | CR0_PE);
    assert.equal(ok(env.vcpuFd.getRegs()).rip, RIP0 + 4n);
    assert.equal(injectedAfterFirst(env).eventInj, 0, 'nothing injected');
  });

  it('outside 64-bit mode only EAX counts (kvm_register_read): bit 32 of RAX is no reserved bit', () => {
    const env = runExits([{ code: SVM_EXIT_WRITE_CR0, info1: mov(VCPU_REGS_RAX), len: 3 }], {
      mode: 32,
      regs: { rax: (1n << 32n) | CR0_PE },
    });
    assert.equal(ok(env.vcpuFd.getSregs()).cr0, CR0_ET | CR0_PE);
  });

  for (const [what, value, mode] of [
    ['bits 63:32 in 64-bit mode', (1n << 32n) | CR0_PG | CR0_PE, 64],
    ['NW without CD', CR0_NW | CR0_PE, 16],
    ['PG without PE', CR0_PG, 16],
    ['paging off in 64-bit mode', CR0_PE, 64],
  ] as const) {
    it(`#GP(0) for ${what}: CR0 unchanged, RIP stays, #GP(0) injected at the next entry`, () => {
      const env = runExits([{ code: SVM_EXIT_WRITE_CR0, info1: mov(VCPU_REGS_RAX), len: 3 }], {
        mode,
        regs: { rax: value },
      });
      const before = mode === 64 ? 0x6000_0010n | CR0_PG | CR0_PE : 0x6000_0010n;
      assert.equal(ok(env.vcpuFd.getSregs()).cr0, before);
      assert.equal(ok(env.vcpuFd.getRegs()).rip, RIP0 + 1n, 'only the HLT retired');
      assert.equal(injectedAfterFirst(env).eventInj >>> 0, GP0 >>> 0);
      assert.equal(injectedAfterFirst(env).eventInjErr, 0);
    });
  }

  it('paging on with EFER.LME activates long mode (EFER.LMA); off again, it deactivates', () => {
    const env = runExits(
      [
        { code: SVM_EXIT_WRITE_CR0, info1: mov(VCPU_REGS_RAX), len: 3 },
        { code: SVM_EXIT_WRITE_CR0, info1: mov(VCPU_REGS_RBX), len: 3 },
      ],
      { mode: 32, regs: { rax: CR0_PG | CR0_PE, rbx: CR0_PE } },
      (e) => {
        const s = ok(e.vcpuFd.getSregs());
        ok(e.vcpuFd.setSregs({ ...s, cr4: CR4_PAE, efer: EFER_LME }));
      },
    );
    const s = ok(env.vcpuFd.getSregs());
    assert.equal(s.cr0, CR0_ET | CR0_PE);
    assert.equal(s.efer, EFER_LME, 'LMA gone with paging, LME kept');
  });

  it('the LMA a CR0.PG write sets is what the guest sees next', () => {
    const env = runExits(
      [{ code: SVM_EXIT_WRITE_CR0, info1: mov(VCPU_REGS_RAX), len: 3 }],
      {
        mode: 32,
        regs: { rax: CR0_PG | CR0_PE },
      },
      (e) => {
        ok(e.vcpuFd.setSregs({ ...ok(e.vcpuFd.getSregs()), cr4: CR4_PAE, efer: EFER_LME }));
      },
    );
    const s = ok(env.vcpuFd.getSregs());
    assert.equal(s.efer, EFER_LME | EFER_LMA);
    assert.equal(s.cr0, CR0_PG | CR0_ET | CR0_PE);
  });

  it('#GP(0) turning paging on with EFER.LME but without CR4.PAE', () => {
    const env = runExits(
      [{ code: SVM_EXIT_WRITE_CR0, info1: mov(VCPU_REGS_RAX), len: 3 }],
      {
        mode: 32,
        regs: { rax: CR0_PG | CR0_PE },
      },
      (e) => {
        ok(e.vcpuFd.setSregs({ ...ok(e.vcpuFd.getSregs()), efer: EFER_LME }));
      },
    );
    assert.equal(ok(env.vcpuFd.getSregs()).efer, EFER_LME);
    assert.equal(injectedAfterFirst(env).eventInj >>> 0, GP0 >>> 0);
  });

  it('#GP(0) turning paging on with EFER.LME from a 64-bit code segment (CS.L)', () => {
    const env = runExits(
      [
        {
          code: SVM_EXIT_WRITE_CR0,
          info1: mov(VCPU_REGS_RAX),
          len: 3,
          // CS.L without LMA: what KVM_SET_SREGS refuses, but the CPU's CS can be so (a far jump).
          before: (hw) =>
            hw.vmcb.save.setUint16(SAVE_CS + 2, hw.vmcb.save.getUint16(SAVE_CS + 2, true) | 0x200, true),
        },
      ],
      { mode: 32, regs: { rax: CR0_PG | CR0_PE } },
      (e) => ok(e.vcpuFd.setSregs({ ...ok(e.vcpuFd.getSregs()), cr4: CR4_PAE, efer: EFER_LME })),
    );
    assert.equal(injectedAfterFirst(env).eventInj >>> 0, GP0 >>> 0);
    assert.equal(ok(env.vcpuFd.getSregs()).efer, EFER_LME);
  });

  describe('PAE paging loads the PDPTEs from CR3 (load_pdptrs)', () => {
    const PDPT = 0x3000;
    for (const [what, pdpte0, cr3, good] of [
      ['valid entries', 0x4001n, PDPT + 0x20, true],
      ['a present entry with reserved bits 8:5', 0x4021n, PDPT, false],
      ['a present entry above MAXPHYADDR', (1n << 50n) | 1n, PDPT, false],
      ['a non-present entry with reserved bits', 0x4020n, PDPT, true],
      ['CR3 in no memslot', 0x4001n, 0x1000_0000, false],
    ] as const) {
      it(`${what}: ${good ? 'paging on' : '#GP(0)'}`, () => {
        const env = runExits(
          [{ code: SVM_EXIT_WRITE_CR0, info1: mov(VCPU_REGS_RAX), len: 3 }],
          {
            mode: 32,
            regs: { rax: CR0_PG | CR0_PE },
            kvm: { maxPhysBits: 48 },
          },
          (e) => {
            const entry = new Uint8Array(8);
            new DataView(entry.buffer).setBigUint64(0, pdpte0, true);
            e.host.write(HVA + (cr3 & 0xffff), entry);
            ok(e.vcpuFd.setSregs({ ...ok(e.vcpuFd.getSregs()), cr4: CR4_PAE, cr3: BigInt(cr3) }));
          },
        );
        const s = ok(env.vcpuFd.getSregs());
        assert.equal((s.cr0 & CR0_PG) !== 0n, good);
        assert.equal(injectedAfterFirst(env).eventInj >>> 0, good ? 0 : GP0 >>> 0);
      });
    }
  });

  it('KVM intercepts CR0 reads and writes only while CD or NW is set (svm_set_cr0); the selective write stays', () => {
    const env = runExits([{ code: SVM_EXIT_WRITE_CR0, info1: mov(VCPU_REGS_RAX), len: 3 }], {
      regs: { rax: CR0_PE },
    });
    const vmcb = env.vcpu.vmcb;
    assert.equal(vmcb.isIntercept(INTERCEPT_CR0_READ), false);
    assert.equal(vmcb.isIntercept(INTERCEPT_CR0_WRITE), false);
    assert.equal(vmcb.isIntercept(INTERCEPT_SELECTIVE_CR0), true);
    // KVM_SET_SREGS goes through svm_set_cr0 too: caching off again, intercepts back.
    ok(env.vcpuFd.setSregs({ ...ok(env.vcpuFd.getSregs()), cr0: CR0_CD | CR0_ET | CR0_PE }));
    assert.equal(vmcb.isIntercept(INTERCEPT_CR0_READ), true);
    assert.equal(vmcb.isIntercept(INTERCEPT_CR0_WRITE), true);
  });

  it('a selective CR0 write (SVM_EXIT_CR0_SEL_WRITE) is a MOV to CR0', () => {
    const env = runExits([{ code: SVM_EXIT_CR0_SEL_WRITE, info1: mov(VCPU_REGS_RBX), len: 3 }], {
      regs: { rbx: CR0_PE },
    });
    assert.equal(ok(env.vcpuFd.getSregs()).cr0, CR0_ET | CR0_PE);
    assert.equal(ok(env.vcpuFd.getRegs()).rip, RIP0 + 4n);
  });

  for (const code of [SVM_EXIT_WRITE_CR0, SVM_EXIT_CR0_SEL_WRITE]) {
    it(`LMSW/CLTS (exit 0x${code.toString(16)} without decode information): the emulator's, so KVM_EXIT_INTERNAL_ERROR (emulation)`, () => {
      const env = hardwareExitsVm([{ code, info1: 0n, len: 3 }]);
      const exit = expectExit(env.vcpuFd, 'InternalError');
      assert.equal(exit.suberror, KVM_INTERNAL_ERROR_EMULATION);
      assert.equal(ok(env.vcpuFd.getRegs()).rip, RIP0, 'not retired');
    });
  }
});

describe('cr_interception: MOV to CR4 (kvm_set_cr4) and CR3 (kvm_set_cr3)', () => {
  it('CR4.OSXSAVE is the guest’s when its CPUID has XSAVE; CPUID.1:ECX.OSXSAVE follows', () => {
    const env = runExits([{ code: SVM_EXIT_WRITE_CR4, info1: mov(VCPU_REGS_RAX), len: 3 }], {
      regs: { rax: CR4_OSXSAVE },
    });
    assert.equal(ok(env.vcpuFd.getSregs()).cr4, CR4_OSXSAVE);
    assert.equal(injectedAfterFirst(env).eventInj, 0);
  });

  for (const [what, value, mode] of [
    ['a reserved bit (SMXE)', 1n << 14n, 16],
    ['bits 63:32', 1n << 32n, 64],
    ['PKE without PKU in the guest’s CPUID', CR4_PKE, 16],
    ['PCIDE without PCID in the guest’s CPUID', CR4_PCIDE, 64],
    ['VMXE on an AMD host', 1n << 13n, 16],
    ['PAE off in long mode', 0n, 64],
  ] as const) {
    it(`#GP(0) for ${what}`, () => {
      const env = runExits([{ code: SVM_EXIT_WRITE_CR4, info1: mov(VCPU_REGS_RAX), len: 3 }], {
        mode,
        regs: { rax: value },
      });
      assert.equal(ok(env.vcpuFd.getSregs()).cr4, mode === 64 ? CR4_PAE : 0n);
      assert.equal(injectedAfterFirst(env).eventInj >>> 0, GP0 >>> 0);
      assert.equal(ok(env.vcpuFd.getRegs()).rip, RIP0 + 1n);
    });
  }

  it('MOV to CR3 sets CR3; bits at or above MAXPHYADDR are #GP(0)', () => {
    const good = runExits([{ code: SVM_EXIT_WRITE_CR3, info1: mov(VCPU_REGS_RAX), len: 3 }], {
      mode: 64,
      regs: { rax: 0x7000n },
    });
    assert.equal(ok(good.vcpuFd.getSregs()).cr3, 0x7000n);
    const bad = runExits([{ code: SVM_EXIT_WRITE_CR3, info1: mov(VCPU_REGS_RAX), len: 3 }], {
      mode: 64,
      regs: { rax: 1n << 48n },
    });
    assert.equal(ok(bad.vcpuFd.getSregs()).cr3, 0n);
    assert.equal(injectedAfterFirst(bad).eventInj >>> 0, GP0 >>> 0);
  });
});

describe('cr8_write_interception (kvm_set_cr8)', () => {
  it('raising the TPR stays in the kernel: V_TPR = the value', () => {
    const env = runExits([{ code: SVM_EXIT_WRITE_CR8, info1: mov(VCPU_REGS_RAX), len: 4 }], {
      regs: { rax: 5n },
    });
    assert.equal(env.vcpu.vmcb.intCtl & 0xf, 5);
    assert.equal(ok(env.vcpuFd.getSregs()).cr8, 5n);
  });

  it('lowering it without an in-kernel APIC exits KVM_EXIT_SET_TPR, kvm_run->cr8 the new value, RIP past the MOV', () => {
    const env = hardwareExitsVm([{ code: SVM_EXIT_WRITE_CR8, info1: mov(VCPU_REGS_RAX), len: 4 }]);
    ok(env.vcpuFd.setSregs({ ...ok(env.vcpuFd.getSregs()), cr8: 9n }));
    ok(env.vcpuFd.setRegs({ ...ok(env.vcpuFd.getRegs()), rax: 2n }));
    const exit = env.vcpuFd.run();
    assert.equal(exit.kind === 'Failed' ? -1 : exit.reason, KVM_EXIT_SET_TPR);
    assert.equal(env.vcpuFd.runArea.u64(KVM_RUN_OFF_CR8), 2n);
    assert.equal(ok(env.vcpuFd.getRegs()).rip, RIP0 + 4n);
    expectExit(env.vcpuFd, 'Hlt');
  });

  it('with an in-kernel APIC the TPR is the APIC’s (TPR[7:4]) and lowering it does not exit', () => {
    const env = hardwareExitsVm(
      [
        { code: SVM_EXIT_WRITE_CR8, info1: mov(VCPU_REGS_RAX), len: 4 },
        { code: SVM_EXIT_WRITE_CR8, info1: mov(VCPU_REGS_RBX), len: 4 },
      ],
      { irqchip: true },
    );
    ok(env.vcpuFd.setRegs({ ...ok(env.vcpuFd.getRegs()), rax: 0xcn, rbx: 3n }));
    // The HLT after them halts the vCPU in the kernel until an interrupt: EINTR here.
    expectFailed(env.vcpuFd, 'EINTR');
    assert.equal(env.vcpu.lapic!.get(APIC_TASKPRI), 0x30);
    assert.equal(env.vcpu.vmcb.intCtl & 0xf, 3);
    assert.equal(ok(env.vcpuFd.getSregs()).cr8, 3n);
  });

  it('#GP(0) for bits above 3:0', () => {
    const env = runExits([{ code: SVM_EXIT_WRITE_CR8, info1: mov(VCPU_REGS_RAX), len: 4 }], {
      regs: { rax: 0x10n },
    });
    assert.equal(env.vcpu.vmcb.intCtl & 0xf, 0);
    assert.equal(injectedAfterFirst(env).eventInj >>> 0, GP0 >>> 0);
  });
});

describe('kvm_register_read / kvm_register_write', () => {
  it('64-bit mode: all 64 bits; compatibility mode (LMA without CS.L): bits 31:0', () => {
    const env = hardwareExitsVm([], { mode: 64 });
    const vcpu = env.vcpu;
    kvmRegisterWrite(vcpu, VCPU_REGS_RAX, 0x1_2345_6789n);
    assert.equal(kvmRegisterRead(vcpu, VCPU_REGS_RAX), 0x1_2345_6789n);
    const save = vcpu.vmcb.save;
    save.setUint16(SAVE_CS + 2, save.getUint16(SAVE_CS + 2, true) & ~0x200, true);
    assert.equal(kvmRegisterRead(vcpu, VCPU_REGS_RAX), 0x2345_6789n);
    kvmRegisterWrite(vcpu, VCPU_REGS_RBX, 0xffff_ffff_0000_0001n);
    assert.equal(ok(env.vcpuFd.getRegs()).rbx, 1n);
  });
});

describe('set_efer for a guest WRMSR to EFER', () => {
  const wrmsrEfer = (value: bigint): HwExit => ({
    code: SVM_EXIT_MSR,
    info1: 1n,
    len: 2,
    before: (hw) => {
      const r = hw.regs!;
      r[2 * VCPU_REGS_RCX] = 0xc000_0080;
      r[2 * VCPU_REGS_RAX] = Number(value & 0xffff_ffffn);
      r[2 * VCPU_REGS_RDX] = Number(value >> 32n);
    },
  });

  it('EFER.LMA is not the guest’s to write: it stays as paging left it', () => {
    const env = runExits([wrmsrEfer(EFER_LME | EFER_LMA | 1n)]);
    assert.equal(ok(env.vcpuFd.getSregs()).efer, EFER_LME | 1n);
  });

  it('#GP(0) toggling EFER.LME while paging', () => {
    const env = runExits([wrmsrEfer(0n)], { mode: 64 });
    assert.equal(ok(env.vcpuFd.getSregs()).efer, EFER_LME | EFER_LMA);
    assert.equal(injectedAfterFirst(env).eventInj >>> 0, GP0 >>> 0);
  });
});
