/**
 * SVM exit codes, SEV-ES VMGEXIT event codes, IOIO exit_info_1 fields, event injection bits and the
 * MSR numbers KVM's SEV-ES code touches. Sources: arch/x86/include/uapi/asm/svm.h (exit codes, VMGEXIT
 * codes), arch/x86/include/asm/svm.h (SVM_IOIO_*, SVM_EVTINJ_*), arch/x86/include/uapi/asm/kvm.h
 * (vectors), arch/x86/include/asm/msr-index.h (MSRs); see shared/spec/ghcb.md sections 4-6.
 * All codes fit in 32 bits and are plain numbers; the GHCB's sw_exit_code is a u64, so
 * `svmExitCodeName` also accepts a bigint.
 */

/** VMEXIT: read of CR0. */
export const SVM_EXIT_READ_CR0 = 0x000;
/** VMEXIT: read of CR2. */
export const SVM_EXIT_READ_CR2 = 0x002;
/** VMEXIT: read of CR3. */
export const SVM_EXIT_READ_CR3 = 0x003;
/** VMEXIT: read of CR4. */
export const SVM_EXIT_READ_CR4 = 0x004;
/** VMEXIT: read of CR8. */
export const SVM_EXIT_READ_CR8 = 0x008;
/** VMEXIT: write of CR0. */
export const SVM_EXIT_WRITE_CR0 = 0x010;
/** VMEXIT: write of CR2. */
export const SVM_EXIT_WRITE_CR2 = 0x012;
/** VMEXIT: write of CR3. */
export const SVM_EXIT_WRITE_CR3 = 0x013;
/** VMEXIT: write of CR4. */
export const SVM_EXIT_WRITE_CR4 = 0x014;
/** VMEXIT: write of CR8. */
export const SVM_EXIT_WRITE_CR8 = 0x018;
/** VMEXIT: read of DR0. */
export const SVM_EXIT_READ_DR0 = 0x020;
/** VMEXIT: read of DR1. */
export const SVM_EXIT_READ_DR1 = 0x021;
/** VMEXIT: read of DR2. */
export const SVM_EXIT_READ_DR2 = 0x022;
/** VMEXIT: read of DR3. */
export const SVM_EXIT_READ_DR3 = 0x023;
/** VMEXIT: read of DR4. */
export const SVM_EXIT_READ_DR4 = 0x024;
/** VMEXIT: read of DR5. */
export const SVM_EXIT_READ_DR5 = 0x025;
/** VMEXIT: read of DR6. */
export const SVM_EXIT_READ_DR6 = 0x026;
/** VMEXIT: read of DR7; SEV-ES: no inputs. */
export const SVM_EXIT_READ_DR7 = 0x027;
/** VMEXIT: write of DR0. */
export const SVM_EXIT_WRITE_DR0 = 0x030;
/** VMEXIT: write of DR1. */
export const SVM_EXIT_WRITE_DR1 = 0x031;
/** VMEXIT: write of DR2. */
export const SVM_EXIT_WRITE_DR2 = 0x032;
/** VMEXIT: write of DR3. */
export const SVM_EXIT_WRITE_DR3 = 0x033;
/** VMEXIT: write of DR4. */
export const SVM_EXIT_WRITE_DR4 = 0x034;
/** VMEXIT: write of DR5. */
export const SVM_EXIT_WRITE_DR5 = 0x035;
/** VMEXIT: write of DR6. */
export const SVM_EXIT_WRITE_DR6 = 0x036;
/** VMEXIT: write of DR7; SEV-ES: needs RAX. */
export const SVM_EXIT_WRITE_DR7 = 0x037;
/** VMEXIT: first exception intercept (0x40 + vector). */
export const SVM_EXIT_EXCP_BASE = 0x040;
/** VMEXIT: last exception intercept. */
export const SVM_EXIT_LAST_EXCP = 0x05f;
/** VMEXIT: physical interrupt. */
export const SVM_EXIT_INTR = 0x060;
/** VMEXIT: physical NMI. */
export const SVM_EXIT_NMI = 0x061;
/** VMEXIT: SMI. */
export const SVM_EXIT_SMI = 0x062;
/** VMEXIT: INIT. */
export const SVM_EXIT_INIT = 0x063;
/** VMEXIT: virtual interrupt window. */
export const SVM_EXIT_VINTR = 0x064;
/** VMEXIT: selective CR0 write. */
export const SVM_EXIT_CR0_SEL_WRITE = 0x065;
/** VMEXIT: IDTR read. */
export const SVM_EXIT_IDTR_READ = 0x066;
/** VMEXIT: GDTR read. */
export const SVM_EXIT_GDTR_READ = 0x067;
/** VMEXIT: LDTR read. */
export const SVM_EXIT_LDTR_READ = 0x068;
/** VMEXIT: TR read. */
export const SVM_EXIT_TR_READ = 0x069;
/** VMEXIT: IDTR write. */
export const SVM_EXIT_IDTR_WRITE = 0x06a;
/** VMEXIT: GDTR write. */
export const SVM_EXIT_GDTR_WRITE = 0x06b;
/** VMEXIT: LDTR write. */
export const SVM_EXIT_LDTR_WRITE = 0x06c;
/** VMEXIT: TR write. */
export const SVM_EXIT_TR_WRITE = 0x06d;
/** VMEXIT: RDTSC; SEV-ES: no inputs. */
export const SVM_EXIT_RDTSC = 0x06e;
/** VMEXIT: RDPMC; SEV-ES: needs RCX. */
export const SVM_EXIT_RDPMC = 0x06f;
/** VMEXIT: PUSHF. */
export const SVM_EXIT_PUSHF = 0x070;
/** VMEXIT: POPF. */
export const SVM_EXIT_POPF = 0x071;
/** VMEXIT: CPUID; SEV-ES: needs RAX, RCX (and XCR0 when RAX = 0xD). */
export const SVM_EXIT_CPUID = 0x072;
/** VMEXIT: RSM. */
export const SVM_EXIT_RSM = 0x073;
/** VMEXIT: IRET. */
export const SVM_EXIT_IRET = 0x074;
/** VMEXIT: INTn. */
export const SVM_EXIT_SWINT = 0x075;
/** VMEXIT: INVD; SEV-ES: no inputs. */
export const SVM_EXIT_INVD = 0x076;
/** VMEXIT: PAUSE. */
export const SVM_EXIT_PAUSE = 0x077;
/** VMEXIT: HLT. */
export const SVM_EXIT_HLT = 0x078;
/** VMEXIT: INVLPG. */
export const SVM_EXIT_INVLPG = 0x079;
/** VMEXIT: INVLPGA. */
export const SVM_EXIT_INVLPGA = 0x07a;
/** VMEXIT: IN/OUT/INS/OUTS; exit_info_1 is described by SVM_IOIO_*. */
export const SVM_EXIT_IOIO = 0x07b;
/** VMEXIT: RDMSR (exit_info_1 = 0) or WRMSR (1); SEV-ES: needs RCX, and RAX/RDX for a write. */
export const SVM_EXIT_MSR = 0x07c;
/** VMEXIT: task switch. */
export const SVM_EXIT_TASK_SWITCH = 0x07d;
/** VMEXIT: FERR freeze. */
export const SVM_EXIT_FERR_FREEZE = 0x07e;
/** VMEXIT: shutdown (triple fault). */
export const SVM_EXIT_SHUTDOWN = 0x07f;
/** VMEXIT: VMRUN. */
export const SVM_EXIT_VMRUN = 0x080;
/** VMEXIT: VMMCALL; SEV-ES: needs RAX and CPL. */
export const SVM_EXIT_VMMCALL = 0x081;
/** VMEXIT: VMLOAD. */
export const SVM_EXIT_VMLOAD = 0x082;
/** VMEXIT: VMSAVE. */
export const SVM_EXIT_VMSAVE = 0x083;
/** VMEXIT: STGI. */
export const SVM_EXIT_STGI = 0x084;
/** VMEXIT: CLGI. */
export const SVM_EXIT_CLGI = 0x085;
/** VMEXIT: SKINIT. */
export const SVM_EXIT_SKINIT = 0x086;
/** VMEXIT: RDTSCP; SEV-ES: no inputs. */
export const SVM_EXIT_RDTSCP = 0x087;
/** VMEXIT: ICEBP. */
export const SVM_EXIT_ICEBP = 0x088;
/** VMEXIT: WBINVD; SEV-ES: no inputs. */
export const SVM_EXIT_WBINVD = 0x089;
/** VMEXIT: MONITOR; SEV-ES: needs RAX, RCX, RDX. */
export const SVM_EXIT_MONITOR = 0x08a;
/** VMEXIT: MWAIT; SEV-ES: needs RAX, RCX. */
export const SVM_EXIT_MWAIT = 0x08b;
/** VMEXIT: conditional MWAIT. */
export const SVM_EXIT_MWAIT_COND = 0x08c;
/** VMEXIT: XSETBV. */
export const SVM_EXIT_XSETBV = 0x08d;
/** VMEXIT: RDPRU. */
export const SVM_EXIT_RDPRU = 0x08e;
/** VMEXIT: SEV-ES trap after an EFER write. */
export const SVM_EXIT_EFER_WRITE_TRAP = 0x08f;
/** VMEXIT: SEV-ES trap after a CR0 write. */
export const SVM_EXIT_CR0_WRITE_TRAP = 0x090;
/** VMEXIT: SEV-ES trap after a CR4 write. */
export const SVM_EXIT_CR4_WRITE_TRAP = 0x094;
/** VMEXIT: SEV-ES trap after a CR8 write. */
export const SVM_EXIT_CR8_WRITE_TRAP = 0x098;
/** VMEXIT: INVPCID. */
export const SVM_EXIT_INVPCID = 0x0a2;
/** VMEXIT: the bus lock threshold counter reached zero. */
export const SVM_EXIT_BUS_LOCK = 0x0a5;
/** VMEXIT: HLT with no virtual interrupt or NMI pending (the Idle HLT intercept). */
export const SVM_EXIT_IDLE_HLT = 0x0a6;
/** VMEXIT: nested page fault. */
export const SVM_EXIT_NPF = 0x400;
/** VMEXIT: AVIC incomplete IPI. */
export const SVM_EXIT_AVIC_INCOMPLETE_IPI = 0x401;
/** VMEXIT: AVIC unaccelerated access. */
export const SVM_EXIT_AVIC_UNACCELERATED_ACCESS = 0x402;
/** VMEXIT: the VMGEXIT instruction (hardware exit; the GHCB holds the software exit code). */
export const SVM_EXIT_VMGEXIT = 0x403;

/** VMGEXIT NAE event: MMIO read: exit_info_1 = GPA, exit_info_2 = length; needs sw_scratch. */
export const SVM_VMGEXIT_MMIO_READ = 0x80000001;
/** VMGEXIT NAE event: MMIO write: exit_info_1 = GPA, exit_info_2 = length; needs sw_scratch. */
export const SVM_VMGEXIT_MMIO_WRITE = 0x80000002;
/** VMGEXIT NAE event: the guest finished handling an NMI. */
export const SVM_VMGEXIT_NMI_COMPLETE = 0x80000003;
/** VMGEXIT NAE event: AP reset hold (AP parks until a SIPI). */
export const SVM_VMGEXIT_AP_HLT_LOOP = 0x80000004;
/** VMGEXIT NAE event: set/get the AP jump table (exit_info_1 = SVM_VMGEXIT_SET/GET_AP_JUMP_TABLE). */
export const SVM_VMGEXIT_AP_JUMP_TABLE = 0x80000005;
/** VMGEXIT NAE event: SNP page state change; needs sw_scratch. */
export const SVM_VMGEXIT_PSC = 0x80000010;
/** VMGEXIT NAE event: SNP guest request (exit_info_1/2 = request/response page GPAs). */
export const SVM_VMGEXIT_GUEST_REQUEST = 0x80000011;
/** VMGEXIT NAE event: SNP extended guest request (certificates in RAX/RBX). */
export const SVM_VMGEXIT_EXT_GUEST_REQUEST = 0x80000012;
/** VMGEXIT NAE event: SNP AP creation (exit_info_1[31:0] = SVM_VMGEXIT_AP_*, [63:32] = APIC ID). */
export const SVM_VMGEXIT_AP_CREATION = 0x80000013;
/** VMGEXIT NAE event: SNP run at VMPL (not accepted by KVM). */
export const SVM_VMGEXIT_SNP_RUN_VMPL = 0x80000018;
/** VMGEXIT NAE event: query hypervisor features (GHCB_HV_FT_*); named SVM_VMGEXIT_HYPERVISOR_FEATURES in some older trees. */
export const SVM_VMGEXIT_HV_FEATURES = 0x8000fffd;
/** VMGEXIT NAE event: guest termination request (exit_info_1 = SVM_VMGEXIT_TERM_REASON). */
export const SVM_VMGEXIT_TERM_REQUEST = 0x8000fffe;
/** VMGEXIT NAE event: the guest saw an event it cannot handle; KVM_RUN fails -EINVAL. */
export const SVM_VMGEXIT_UNSUPPORTED_EVENT = 0x8000ffff;

const EXIT_NAMES: ReadonlyMap<number, string> = new Map([
  [SVM_EXIT_READ_CR0, 'SVM_EXIT_READ_CR0'],
  [SVM_EXIT_READ_CR2, 'SVM_EXIT_READ_CR2'],
  [SVM_EXIT_READ_CR3, 'SVM_EXIT_READ_CR3'],
  [SVM_EXIT_READ_CR4, 'SVM_EXIT_READ_CR4'],
  [SVM_EXIT_READ_CR8, 'SVM_EXIT_READ_CR8'],
  [SVM_EXIT_WRITE_CR0, 'SVM_EXIT_WRITE_CR0'],
  [SVM_EXIT_WRITE_CR2, 'SVM_EXIT_WRITE_CR2'],
  [SVM_EXIT_WRITE_CR3, 'SVM_EXIT_WRITE_CR3'],
  [SVM_EXIT_WRITE_CR4, 'SVM_EXIT_WRITE_CR4'],
  [SVM_EXIT_WRITE_CR8, 'SVM_EXIT_WRITE_CR8'],
  [SVM_EXIT_READ_DR0, 'SVM_EXIT_READ_DR0'],
  [SVM_EXIT_READ_DR1, 'SVM_EXIT_READ_DR1'],
  [SVM_EXIT_READ_DR2, 'SVM_EXIT_READ_DR2'],
  [SVM_EXIT_READ_DR3, 'SVM_EXIT_READ_DR3'],
  [SVM_EXIT_READ_DR4, 'SVM_EXIT_READ_DR4'],
  [SVM_EXIT_READ_DR5, 'SVM_EXIT_READ_DR5'],
  [SVM_EXIT_READ_DR6, 'SVM_EXIT_READ_DR6'],
  [SVM_EXIT_READ_DR7, 'SVM_EXIT_READ_DR7'],
  [SVM_EXIT_WRITE_DR0, 'SVM_EXIT_WRITE_DR0'],
  [SVM_EXIT_WRITE_DR1, 'SVM_EXIT_WRITE_DR1'],
  [SVM_EXIT_WRITE_DR2, 'SVM_EXIT_WRITE_DR2'],
  [SVM_EXIT_WRITE_DR3, 'SVM_EXIT_WRITE_DR3'],
  [SVM_EXIT_WRITE_DR4, 'SVM_EXIT_WRITE_DR4'],
  [SVM_EXIT_WRITE_DR5, 'SVM_EXIT_WRITE_DR5'],
  [SVM_EXIT_WRITE_DR6, 'SVM_EXIT_WRITE_DR6'],
  [SVM_EXIT_WRITE_DR7, 'SVM_EXIT_WRITE_DR7'],
  [SVM_EXIT_INTR, 'SVM_EXIT_INTR'],
  [SVM_EXIT_NMI, 'SVM_EXIT_NMI'],
  [SVM_EXIT_SMI, 'SVM_EXIT_SMI'],
  [SVM_EXIT_INIT, 'SVM_EXIT_INIT'],
  [SVM_EXIT_VINTR, 'SVM_EXIT_VINTR'],
  [SVM_EXIT_CR0_SEL_WRITE, 'SVM_EXIT_CR0_SEL_WRITE'],
  [SVM_EXIT_IDTR_READ, 'SVM_EXIT_IDTR_READ'],
  [SVM_EXIT_GDTR_READ, 'SVM_EXIT_GDTR_READ'],
  [SVM_EXIT_LDTR_READ, 'SVM_EXIT_LDTR_READ'],
  [SVM_EXIT_TR_READ, 'SVM_EXIT_TR_READ'],
  [SVM_EXIT_IDTR_WRITE, 'SVM_EXIT_IDTR_WRITE'],
  [SVM_EXIT_GDTR_WRITE, 'SVM_EXIT_GDTR_WRITE'],
  [SVM_EXIT_LDTR_WRITE, 'SVM_EXIT_LDTR_WRITE'],
  [SVM_EXIT_TR_WRITE, 'SVM_EXIT_TR_WRITE'],
  [SVM_EXIT_RDTSC, 'SVM_EXIT_RDTSC'],
  [SVM_EXIT_RDPMC, 'SVM_EXIT_RDPMC'],
  [SVM_EXIT_PUSHF, 'SVM_EXIT_PUSHF'],
  [SVM_EXIT_POPF, 'SVM_EXIT_POPF'],
  [SVM_EXIT_CPUID, 'SVM_EXIT_CPUID'],
  [SVM_EXIT_RSM, 'SVM_EXIT_RSM'],
  [SVM_EXIT_IRET, 'SVM_EXIT_IRET'],
  [SVM_EXIT_SWINT, 'SVM_EXIT_SWINT'],
  [SVM_EXIT_INVD, 'SVM_EXIT_INVD'],
  [SVM_EXIT_PAUSE, 'SVM_EXIT_PAUSE'],
  [SVM_EXIT_HLT, 'SVM_EXIT_HLT'],
  [SVM_EXIT_INVLPG, 'SVM_EXIT_INVLPG'],
  [SVM_EXIT_INVLPGA, 'SVM_EXIT_INVLPGA'],
  [SVM_EXIT_IOIO, 'SVM_EXIT_IOIO'],
  [SVM_EXIT_MSR, 'SVM_EXIT_MSR'],
  [SVM_EXIT_TASK_SWITCH, 'SVM_EXIT_TASK_SWITCH'],
  [SVM_EXIT_FERR_FREEZE, 'SVM_EXIT_FERR_FREEZE'],
  [SVM_EXIT_SHUTDOWN, 'SVM_EXIT_SHUTDOWN'],
  [SVM_EXIT_VMRUN, 'SVM_EXIT_VMRUN'],
  [SVM_EXIT_VMMCALL, 'SVM_EXIT_VMMCALL'],
  [SVM_EXIT_VMLOAD, 'SVM_EXIT_VMLOAD'],
  [SVM_EXIT_VMSAVE, 'SVM_EXIT_VMSAVE'],
  [SVM_EXIT_STGI, 'SVM_EXIT_STGI'],
  [SVM_EXIT_CLGI, 'SVM_EXIT_CLGI'],
  [SVM_EXIT_SKINIT, 'SVM_EXIT_SKINIT'],
  [SVM_EXIT_RDTSCP, 'SVM_EXIT_RDTSCP'],
  [SVM_EXIT_ICEBP, 'SVM_EXIT_ICEBP'],
  [SVM_EXIT_WBINVD, 'SVM_EXIT_WBINVD'],
  [SVM_EXIT_MONITOR, 'SVM_EXIT_MONITOR'],
  [SVM_EXIT_MWAIT, 'SVM_EXIT_MWAIT'],
  [SVM_EXIT_MWAIT_COND, 'SVM_EXIT_MWAIT_COND'],
  [SVM_EXIT_XSETBV, 'SVM_EXIT_XSETBV'],
  [SVM_EXIT_RDPRU, 'SVM_EXIT_RDPRU'],
  [SVM_EXIT_EFER_WRITE_TRAP, 'SVM_EXIT_EFER_WRITE_TRAP'],
  [SVM_EXIT_CR0_WRITE_TRAP, 'SVM_EXIT_CR0_WRITE_TRAP'],
  [SVM_EXIT_CR4_WRITE_TRAP, 'SVM_EXIT_CR4_WRITE_TRAP'],
  [SVM_EXIT_CR8_WRITE_TRAP, 'SVM_EXIT_CR8_WRITE_TRAP'],
  [SVM_EXIT_INVPCID, 'SVM_EXIT_INVPCID'],
  [SVM_EXIT_BUS_LOCK, 'SVM_EXIT_BUS_LOCK'],
  [SVM_EXIT_IDLE_HLT, 'SVM_EXIT_IDLE_HLT'],
  [SVM_EXIT_NPF, 'SVM_EXIT_NPF'],
  [SVM_EXIT_AVIC_INCOMPLETE_IPI, 'SVM_EXIT_AVIC_INCOMPLETE_IPI'],
  [SVM_EXIT_AVIC_UNACCELERATED_ACCESS, 'SVM_EXIT_AVIC_UNACCELERATED_ACCESS'],
  [SVM_EXIT_VMGEXIT, 'SVM_EXIT_VMGEXIT'],
  [SVM_VMGEXIT_MMIO_READ, 'SVM_VMGEXIT_MMIO_READ'],
  [SVM_VMGEXIT_MMIO_WRITE, 'SVM_VMGEXIT_MMIO_WRITE'],
  [SVM_VMGEXIT_NMI_COMPLETE, 'SVM_VMGEXIT_NMI_COMPLETE'],
  [SVM_VMGEXIT_AP_HLT_LOOP, 'SVM_VMGEXIT_AP_HLT_LOOP'],
  [SVM_VMGEXIT_AP_JUMP_TABLE, 'SVM_VMGEXIT_AP_JUMP_TABLE'],
  [SVM_VMGEXIT_PSC, 'SVM_VMGEXIT_PSC'],
  [SVM_VMGEXIT_GUEST_REQUEST, 'SVM_VMGEXIT_GUEST_REQUEST'],
  [SVM_VMGEXIT_EXT_GUEST_REQUEST, 'SVM_VMGEXIT_EXT_GUEST_REQUEST'],
  [SVM_VMGEXIT_AP_CREATION, 'SVM_VMGEXIT_AP_CREATION'],
  [SVM_VMGEXIT_SNP_RUN_VMPL, 'SVM_VMGEXIT_SNP_RUN_VMPL'],
  [SVM_VMGEXIT_HV_FEATURES, 'SVM_VMGEXIT_HV_FEATURES'],
  [SVM_VMGEXIT_TERM_REQUEST, 'SVM_VMGEXIT_TERM_REQUEST'],
  [SVM_VMGEXIT_UNSUPPORTED_EVENT, 'SVM_VMGEXIT_UNSUPPORTED_EVENT'],
]);

/** Exit code reserved for hypervisor/software use (uapi svm.h). */
export const SVM_EXIT_SW = 0xf0000000;
/** VMRUN failed (invalid guest state); -1 as a u64 exit code. */
export const SVM_EXIT_ERR = -1;

/** AP_JUMP_TABLE exit_info_1: store exit_info_2 as the AP jump table address. */
export const SVM_VMGEXIT_SET_AP_JUMP_TABLE = 0;
/** AP_JUMP_TABLE exit_info_1: return the AP jump table address in sw_exit_info_2. */
export const SVM_VMGEXIT_GET_AP_JUMP_TABLE = 1;
/** AP_CREATION exit_info_1[31:0]: create the AP at its next INIT. */
export const SVM_VMGEXIT_AP_CREATE_ON_INIT = 0;
/** AP_CREATION exit_info_1[31:0]: create the AP now. */
export const SVM_VMGEXIT_AP_CREATE = 1;
/** AP_CREATION exit_info_1[31:0]: destroy the AP (no RAX needed). */
export const SVM_VMGEXIT_AP_DESTROY = 2;

/** SVM_VMGEXIT_TERM_REASON(set, code): TERM_REQUEST exit_info_1, [3:0] reason set, [11:4] reason code. */
export function SVM_VMGEXIT_TERM_REASON(reasonSet: number, reasonCode: number): bigint {
  return BigInt(reasonSet & 0xf) | (BigInt(reasonCode & 0xff) << 4n);
}

/** Splits a TERM_REQUEST exit_info_1 into its reason set ([3:0]) and reason code ([11:4]). */
export function decodeVmgexitTermReason(info1: bigint): { reasonSet: number; reasonCode: number } {
  return { reasonSet: Number(info1 & 0xfn), reasonCode: Number((info1 >> 4n) & 0xffn) };
}

/**
 * Printable name of an SVM exit code or VMGEXIT event: "SVM_EXIT_IOIO", "SVM_VMGEXIT_MMIO_READ",
 * "SVM_EXIT_EXCP_BASE+13" for exception intercepts, "SVM_EXIT_ERR" for -1 (or 2^64 - 1), else
 * "SVM_EXIT_#0x<hex>".
 */
export function svmExitCodeName(code: number | bigint): string {
  const c = typeof code === 'bigint' ? code : Number.isInteger(code) ? BigInt(code) : undefined;
  if (c === undefined) return `SVM_EXIT_#${code}`;
  if (c === -1n || c === (1n << 64n) - 1n) return 'SVM_EXIT_ERR';
  if (c >= 0n && c <= 0xffffffffn) {
    const n = Number(c);
    const name = EXIT_NAMES.get(n);
    if (name !== undefined) return name;
    if (n >= SVM_EXIT_EXCP_BASE && n <= SVM_EXIT_LAST_EXCP)
      return `SVM_EXIT_EXCP_BASE+${n - SVM_EXIT_EXCP_BASE}`;
  }
  return `SVM_EXIT_#0x${c.toString(16)}`;
}

// ---- IOIO exit_info_1 (arch/x86/include/asm/svm.h) ----

/** Shift of the STR (string instruction) bit. */
export const SVM_IOIO_STR_SHIFT = 2;
/** Shift of the REP prefix bit. */
export const SVM_IOIO_REP_SHIFT = 3;
/** Shift of the one-hot operand-size field. */
export const SVM_IOIO_SIZE_SHIFT = 4;
/** Shift of the one-hot address-size field. */
export const SVM_IOIO_ASIZE_SHIFT = 7;
/** Bit 0: 1 = IN, 0 = OUT. */
export const SVM_IOIO_TYPE_MASK = 1;
/** Bit 2: INS/OUTS. */
export const SVM_IOIO_STR_MASK = 1 << SVM_IOIO_STR_SHIFT;
/** Bit 3: REP prefix. */
export const SVM_IOIO_REP_MASK = 1 << SVM_IOIO_REP_SHIFT;
/** Bits 6:4: operand size one-hot (0x10 = 1 byte, 0x20 = 2, 0x40 = 4); `(x & mask) >> 4` = bytes. */
export const SVM_IOIO_SIZE_MASK = 7 << SVM_IOIO_SIZE_SHIFT;
/** Bits 9:7: address size one-hot (bit 7 = 16-bit, bit 8 = 32-bit, bit 9 = 64-bit). */
export const SVM_IOIO_ASIZE_MASK = 7 << SVM_IOIO_ASIZE_SHIFT;
/** Shift of the segment field, bits 12:10 (AMD APM vol. 2; not a Linux macro). */
export const SVM_IOIO_SEG_SHIFT = 10;
/** Mask of the segment field, bits 12:10 (AMD APM vol. 2; not a Linux macro). */
export const SVM_IOIO_SEG_MASK = 7 << SVM_IOIO_SEG_SHIFT;
/** Shift of the port number, bits 31:16 (svm.c open-codes `io_info >> 16`; not a Linux macro). */
export const SVM_IOIO_PORT_SHIFT = 16;

/** What an IOIO intercept says about the I/O instruction. */
export interface IoioInfo {
  /** I/O port, 0..0xffff. */
  port: number;
  /** Operand size in bytes. */
  size: 1 | 2 | 4;
  /** True for IN/INS, false for OUT/OUTS. */
  in: boolean;
  /** INS/OUTS. */
  string?: boolean;
  /** REP prefix. */
  rep?: boolean;
  /** Address size in bits; the ASIZE field stays 0 when omitted. */
  addrSize?: 16 | 32 | 64;
  /** Effective segment (0 = ES ... 5 = GS), bits 12:10. */
  seg?: number;
}

/** Encodes an IOIO exit_info_1 (unsigned 32-bit) as the CPU reports it. Throws RangeError on bad fields. */
export function encodeIoioInfo(io: IoioInfo): number {
  if (!Number.isInteger(io.port) || io.port < 0 || io.port > 0xffff) {
    throw new RangeError(`port ${io.port} is not a u16`);
  }
  if (io.size !== 1 && io.size !== 2 && io.size !== 4) throw new RangeError(`bad I/O size ${io.size}`);
  const seg = io.seg ?? 0;
  if (!Number.isInteger(seg) || seg < 0 || seg > 7) throw new RangeError(`bad segment ${seg}`);
  let asize = 0;
  if (io.addrSize === 16) asize = 1;
  else if (io.addrSize === 32) asize = 2;
  else if (io.addrSize === 64) asize = 4;
  else if (io.addrSize !== undefined) throw new RangeError(`bad address size ${io.addrSize}`);
  return (
    ((io.port << SVM_IOIO_PORT_SHIFT) |
      (seg << SVM_IOIO_SEG_SHIFT) |
      (asize << SVM_IOIO_ASIZE_SHIFT) |
      (io.size << SVM_IOIO_SIZE_SHIFT) |
      (io.rep ? SVM_IOIO_REP_MASK : 0) |
      (io.string ? SVM_IOIO_STR_MASK : 0) |
      (io.in ? SVM_IOIO_TYPE_MASK : 0)) >>>
    0
  );
}

/** The raw fields of an IOIO exit_info_1, as KVM reads them (no validation). */
export interface DecodedIoioInfo {
  /** Bits 31:16. */
  port: number;
  /** Bit 0 set (IN/INS). */
  in: boolean;
  /** Bit 2 set (INS/OUTS). */
  string: boolean;
  /** Bit 3 set (REP). */
  rep: boolean;
  /** Raw 3-bit SIZE field, bits 6:4. */
  sizeField: number;
  /** `(info & SVM_IOIO_SIZE_MASK) >> SVM_IOIO_SIZE_SHIFT`: the byte count KVM uses (0 when the field is 0). */
  size: number;
  /** Raw 3-bit ASIZE field, bits 9:7. */
  asizeField: number;
  /** Raw 3-bit SEG field, bits 12:10. */
  seg: number;
}

/** Splits an IOIO exit_info_1 into its raw fields. Only the low 32 bits are looked at. */
export function decodeIoioInfo(info1: number): DecodedIoioInfo {
  const v = info1 >>> 0;
  const sizeField = (v & SVM_IOIO_SIZE_MASK) >>> SVM_IOIO_SIZE_SHIFT;
  return {
    port: v >>> SVM_IOIO_PORT_SHIFT,
    in: (v & SVM_IOIO_TYPE_MASK) !== 0,
    string: (v & SVM_IOIO_STR_MASK) !== 0,
    rep: (v & SVM_IOIO_REP_MASK) !== 0,
    sizeField,
    size: sizeField,
    asizeField: (v & SVM_IOIO_ASIZE_MASK) >>> SVM_IOIO_ASIZE_SHIFT,
    seg: (v & SVM_IOIO_SEG_MASK) >>> SVM_IOIO_SEG_SHIFT,
  };
}

// ---- event injection (arch/x86/include/asm/svm.h) ----

/** Vector bits 7:0 of an event. */
export const SVM_EVTINJ_VEC_MASK = 0xff;
/** Shift of the event type field. */
export const SVM_EVTINJ_TYPE_SHIFT = 8;
/** Event type field, bits 10:8. */
export const SVM_EVTINJ_TYPE_MASK = 7 << SVM_EVTINJ_TYPE_SHIFT;
/** Event type: external interrupt. */
export const SVM_EVTINJ_TYPE_INTR = 0 << SVM_EVTINJ_TYPE_SHIFT;
/** Event type: NMI. */
export const SVM_EVTINJ_TYPE_NMI = 2 << SVM_EVTINJ_TYPE_SHIFT;
/** Event type: exception (0x300). */
export const SVM_EVTINJ_TYPE_EXEPT = 3 << SVM_EVTINJ_TYPE_SHIFT;
/** Event type: software interrupt. */
export const SVM_EVTINJ_TYPE_SOFT = 4 << SVM_EVTINJ_TYPE_SHIFT;
/** Bit 11: an error code is pushed. */
export const SVM_EVTINJ_VALID_ERR = 1 << 11;
/** Bit 31: the event is valid (unsigned, 0x80000000). */
export const SVM_EVTINJ_VALID = 0x80000000;

/** Debug exception vector (#DB). */
export const DB_VECTOR = 1;
/** Breakpoint exception vector (#BP). */
export const BP_VECTOR = 3;
/** Invalid-opcode exception vector (#UD). */
export const UD_VECTOR = 6;
/** Stack-fault exception vector (#SS). */
export const SS_VECTOR = 12;
/** General-protection exception vector (#GP). */
export const GP_VECTOR = 13;
/** Page-fault exception vector (#PF). */
export const PF_VECTOR = 14;
/** Alignment-check exception vector (#AC). */
export const AC_VECTOR = 17;
/** Machine-check exception vector (#MC). */
export const MC_VECTOR = 18;
