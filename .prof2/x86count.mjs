import { createRequire as __sevboxCreateRequire } from 'node:module';
const require = __sevboxCreateRequire(import.meta.url);
var __defProp = Object.defineProperty;
var __export = (target2, all) => {
  for (var name in all)
    __defProp(target2, name, { get: all[name], enumerable: true });
};

// bench/x86.bench.ts
import { readFileSync } from "node:fs";

// src/uapi/u64.ts
const scratch = new DataView(new ArrayBuffer(8));
const U64_MAX = 0xffffffffffffffffn;
function u64Lo(v) {
  scratch.setBigUint64(0, v, true);
  return scratch.getUint32(0, true);
}
function u64Join(lo, hi) {
  scratch.setUint32(0, lo >>> 0, true);
  scratch.setUint32(4, hi >>> 0, true);
  return scratch.getBigUint64(0, true);
}
function isU64(v) {
  return v >= 0n && v <= U64_MAX;
}

// src/uapi/ghcb.ts
const GHCB_SIZE = 4096;
const GHCB_OFF_CPL = 203;
const GHCB_OFF_XSS = 320;
const GHCB_OFF_DR7 = 352;
const GHCB_OFF_RIP = 376;
const GHCB_OFF_RSP = 472;
const GHCB_OFF_RAX = 504;
const GHCB_OFF_RCX = 776;
const GHCB_OFF_RDX = 784;
const GHCB_OFF_RBX = 792;
const GHCB_OFF_RBP = 808;
const GHCB_OFF_RSI = 816;
const GHCB_OFF_RDI = 824;
const GHCB_OFF_R8 = 832;
const GHCB_OFF_R9 = 840;
const GHCB_OFF_R10 = 848;
const GHCB_OFF_R11 = 856;
const GHCB_OFF_R12 = 864;
const GHCB_OFF_R13 = 872;
const GHCB_OFF_R14 = 880;
const GHCB_OFF_R15 = 888;
const GHCB_OFF_SW_EXIT_CODE = 912;
const GHCB_OFF_SW_EXIT_INFO_1 = 920;
const GHCB_OFF_SW_EXIT_INFO_2 = 928;
const GHCB_OFF_SW_SCRATCH = 936;
const GHCB_OFF_XCR0 = 1e3;
const GHCB_OFF_VALID_BITMAP = 1008;
const GHCB_VALID_BITMAP_SIZE = 16;
const GHCB_OFF_X87_STATE_GPA = 1024;
const GHCB_OFF_SHARED_BUFFER = 2048;
const GHCB_SHARED_BUF_SIZE = 2032;
const GHCB_OFF_PROTOCOL_VERSION = 4090;
const GHCB_OFF_USAGE = 4092;
const GHCB_DEFAULT_USAGE = 0;
function ghcbBitmapIdx(offset) {
  return offset >> 3;
}
const HOST_LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;
function assertLittleEndianHost(message) {
  if (!HOST_LITTLE_ENDIAN) throw new Error(message);
}
function tracked(name, offset, size = 8) {
  return { name, offset, size, validBit: ghcbBitmapIdx(offset) };
}
const GHCB_FIELDS = [
  tracked("cpl", 203, 1),
  tracked("xss", 320),
  tracked("dr7", 352),
  tracked("rip", 376),
  tracked("rsp", 472),
  tracked("rax", 504),
  tracked("rcx", 776),
  tracked("rdx", 784),
  tracked("rbx", 792),
  tracked("rbp", 808),
  tracked("rsi", 816),
  tracked("rdi", 824),
  tracked("r8", 832),
  tracked("r9", 840),
  tracked("r10", 848),
  tracked("r11", 856),
  tracked("r12", 864),
  tracked("r13", 872),
  tracked("r14", 880),
  tracked("r15", 888),
  tracked("sw_exit_code", 912),
  tracked("sw_exit_info_1", 920),
  tracked("sw_exit_info_2", 928),
  tracked("sw_scratch", 936),
  tracked("xcr0", 1000),
  { name: "valid_bitmap", offset: 1008, size: 16 },
  { name: "x87_state_gpa", offset: 1024, size: 8 },
  { name: "protocol_version", offset: 4090, size: 2 },
  { name: "ghcb_usage", offset: 4092, size: 4 }
];
const GHCB_HV_RESP_ISSUE_EXCEPTION = 1;
const GHCB_ERR_INVALID_USAGE = 2;
const GHCB_ERR_INVALID_SCRATCH_AREA = 3;
const GHCB_ERR_MISSING_INPUT = 4;
const GHCB_ERR_INVALID_INPUT = 5;
const GHCB_ERR_INVALID_EVENT = 6;
const GHCB_SCRATCH_AREA_LIMIT = 16 * 4096;
const GHCB_VERSION_MIN = 1;
const GHCB_HV_FT_SNP = 1n << 0n;
const GHCB_HV_FT_SNP_AP_CREATION = 1n << 1n;
const GHCB_HV_FT_SNP_MULTI_VMPL = 1n << 5n;
const GHCB_HV_FT_SUPPORTED = GHCB_HV_FT_SNP | GHCB_HV_FT_SNP_AP_CREATION;
const GHCB_MSR_INFO_MASK = 4095;
const GHCB_MSR_SEV_INFO_RESP = 1;
const GHCB_MSR_SEV_INFO_REQ = 2;
const GHCB_MSR_CPUID_REQ = 4;
const GHCB_MSR_CPUID_RESP = 5;
const GHCB_MSR_AP_RESET_HOLD_REQ = 6;
const GHCB_MSR_AP_RESET_HOLD_RESP = 7;
const GHCB_MSR_PREF_GPA_REQ = 16;
const GHCB_MSR_REG_GPA_REQ = 18;
const GHCB_MSR_PSC_REQ = 20;
const GHCB_MSR_PSC_RESP = 21;
const GHCB_MSR_HV_FT_REQ = 128;
const GHCB_MSR_HV_FT_RESP = 129;
const GHCB_MSR_TERM_REQ = 256;
const GHCB_MSR_PSC_RESP_ERROR = 1n << 63n | BigInt(21);
const MASK_52 = (1n << 52n) - 1n;
const MASK_40 = (1n << 40n) - 1n;
function ghcbMsrInfo(v) {
  return u64Lo(v) & 4095;
}
function ghcbMsrData(v) {
  return (v & 0xffffffffffffffffn) >> 12n;
}
function ghcbMsrSevInfo(max, min, cbit) {
  return BigInt(max & 65535) << 48n | BigInt(min & 65535) << 32n | BigInt(cbit & 255) << 24n | BigInt(1);
}
function decodeGhcbMsrSevInfo(v) {
  return {
    max: Number(v >> 48n & 0xffffn),
    min: Number(v >> 32n & 0xffffn),
    cbit: Number(v >> 24n & 0xffn)
  };
}
function ghcbSevTermReason(reasonSet, reasonCode) {
  return BigInt(reasonSet & 15) << 12n | BigInt(reasonCode & 255) << 16n;
}
function ghcbMsrTermReq(reasonSet, reasonCode) {
  return ghcbSevTermReason(reasonSet, reasonCode) | BigInt(256);
}
function ghcbMsrHvFtResp(features) {
  return (features & MASK_52) << 12n | BigInt(129);
}
function ghcbMsrApResetHoldResp(result) {
  return (result & MASK_52) << 12n | BigInt(7);
}

// src/uapi/svm.ts
const SVM_EXIT_READ_CR0 = 0;
const SVM_EXIT_READ_CR3 = 3;
const SVM_EXIT_READ_CR4 = 4;
const SVM_EXIT_READ_CR8 = 8;
const SVM_EXIT_WRITE_CR0 = 16;
const SVM_EXIT_WRITE_CR3 = 19;
const SVM_EXIT_WRITE_CR4 = 20;
const SVM_EXIT_WRITE_CR8 = 24;
const SVM_EXIT_READ_DR0 = 32;
const SVM_EXIT_READ_DR7 = 39;
const SVM_EXIT_WRITE_DR0 = 48;
const SVM_EXIT_WRITE_DR7 = 55;
const SVM_EXIT_EXCP_BASE = 64;
const SVM_EXIT_INTR = 96;
const SVM_EXIT_NMI = 97;
const SVM_EXIT_SMI = 98;
const SVM_EXIT_INIT = 99;
const SVM_EXIT_VINTR = 100;
const SVM_EXIT_CR0_SEL_WRITE = 101;
const SVM_EXIT_RDTSC = 110;
const SVM_EXIT_RDPMC = 111;
const SVM_EXIT_CPUID = 114;
const SVM_EXIT_RSM = 115;
const SVM_EXIT_IRET = 116;
const SVM_EXIT_INVD = 118;
const SVM_EXIT_PAUSE = 119;
const SVM_EXIT_HLT = 120;
const SVM_EXIT_INVLPG = 121;
const SVM_EXIT_INVLPGA = 122;
const SVM_EXIT_IOIO = 123;
const SVM_EXIT_MSR = 124;
const SVM_EXIT_TASK_SWITCH = 125;
const SVM_EXIT_SHUTDOWN = 127;
const SVM_EXIT_VMRUN = 128;
const SVM_EXIT_VMMCALL = 129;
const SVM_EXIT_VMLOAD = 130;
const SVM_EXIT_VMSAVE = 131;
const SVM_EXIT_STGI = 132;
const SVM_EXIT_CLGI = 133;
const SVM_EXIT_SKINIT = 134;
const SVM_EXIT_RDTSCP = 135;
const SVM_EXIT_WBINVD = 137;
const SVM_EXIT_MONITOR = 138;
const SVM_EXIT_MWAIT = 139;
const SVM_EXIT_XSETBV = 141;
const SVM_EXIT_RDPRU = 142;
const SVM_EXIT_EFER_WRITE_TRAP = 143;
const SVM_EXIT_CR0_WRITE_TRAP = 144;
const SVM_EXIT_CR4_WRITE_TRAP = 148;
const SVM_EXIT_CR8_WRITE_TRAP = 152;
const SVM_EXIT_INVPCID = 162;
const SVM_EXIT_BUS_LOCK = 165;
const SVM_EXIT_IDLE_HLT = 166;
const SVM_EXIT_NPF = 1024;
const SVM_EXIT_VMGEXIT = 1027;
const SVM_VMGEXIT_MMIO_READ = 2147483649;
const SVM_VMGEXIT_MMIO_WRITE = 2147483650;
const SVM_VMGEXIT_NMI_COMPLETE = 2147483651;
const SVM_VMGEXIT_AP_HLT_LOOP = 2147483652;
const SVM_VMGEXIT_AP_JUMP_TABLE = 2147483653;
const SVM_VMGEXIT_PSC = 2147483664;
const SVM_VMGEXIT_GUEST_REQUEST = 2147483665;
const SVM_VMGEXIT_EXT_GUEST_REQUEST = 2147483666;
const SVM_VMGEXIT_AP_CREATION = 2147483667;
const SVM_VMGEXIT_HV_FEATURES = 2147549181;
const SVM_VMGEXIT_TERM_REQUEST = 2147549182;
const SVM_VMGEXIT_UNSUPPORTED_EVENT = 2147549183;
const SVM_EXIT_ERR = -1;
const SVM_VMGEXIT_SET_AP_JUMP_TABLE = 0;
const SVM_VMGEXIT_GET_AP_JUMP_TABLE = 1;
function SVM_VMGEXIT_TERM_REASON(reasonSet, reasonCode) {
  return BigInt(reasonSet & 15) | BigInt(reasonCode & 255) << 4n;
}
const SVM_IOIO_STR_SHIFT = 2;
const SVM_IOIO_REP_SHIFT = 3;
const SVM_IOIO_SIZE_SHIFT = 4;
const SVM_IOIO_ASIZE_SHIFT = 7;
const SVM_IOIO_TYPE_MASK = 1;
const SVM_IOIO_STR_MASK = 1 << 2;
const SVM_IOIO_REP_MASK = 1 << 3;
const SVM_IOIO_SIZE_MASK = 7 << 4;
const SVM_IOIO_ASIZE_MASK = 7 << 7;
const SVM_IOIO_SEG_SHIFT = 10;
const SVM_IOIO_SEG_MASK = 7 << 10;
const SVM_IOIO_PORT_SHIFT = 16;
function encodeIoioInfo(io2) {
  if (!Number.isInteger(io2.port) || io2.port < 0 || io2.port > 65535) {
    throw new RangeError(`port ${io2.port} is not a u16`);
  }
  if (io2.size !== 1 && io2.size !== 2 && io2.size !== 4) throw new RangeError(`bad I/O size ${io2.size}`);
  const seg = io2.seg ?? 0;
  if (!Number.isInteger(seg) || seg < 0 || seg > 7) throw new RangeError(`bad segment ${seg}`);
  let asize = 0;
  if (io2.addrSize === 16) asize = 1;
  else if (io2.addrSize === 32) asize = 2;
  else if (io2.addrSize === 64) asize = 4;
  else if (io2.addrSize !== void 0) throw new RangeError(`bad address size ${io2.addrSize}`);
  return (io2.port << 16 | seg << 10 | asize << 7 | io2.size << 4 | (io2.rep ? SVM_IOIO_REP_MASK : 0) | (io2.string ? SVM_IOIO_STR_MASK : 0) | (io2.in ? 1 : 0)) >>> 0;
}
const SVM_EVTINJ_VEC_MASK = 255;
const SVM_EVTINJ_TYPE_SHIFT = 8;
const SVM_EVTINJ_TYPE_MASK = 7 << 8;
const SVM_EVTINJ_TYPE_INTR = 0 << 8;
const SVM_EVTINJ_TYPE_NMI = 2 << 8;
const SVM_EVTINJ_TYPE_EXEPT = 3 << 8;
const SVM_EVTINJ_TYPE_SOFT = 4 << 8;
const SVM_EVTINJ_VALID_ERR = 1 << 11;
const SVM_EVTINJ_VALID = 2147483648;
const DB_VECTOR = 1;
const BP_VECTOR = 3;
const UD_VECTOR = 6;
const GP_VECTOR = 13;
const PF_VECTOR = 14;
const AC_VECTOR = 17;
const MC_VECTOR = 18;

// src/guest/ghcb-call.ts
const VMGEXIT_OP = Object.freeze({ op: "vmgexit" });
const VMGEXIT_STEP = Object.freeze({ value: VMGEXIT_OP, done: false });
const GhcbCall = class _GhcbCall {
  constructor(tx) {
    this.tx = tx;
  }
  tx;
  /**
   * The state of the request, as the step its next `next` runs: send it, read the answer, report
   * the end, or go on in a generator. A step per state rather than one `next` doing both halves:
   * V8 inlines callees only up to a bytecode budget per compiled function, which both halves
   * together exceed (the codec accessors then stay calls); a step each is compiled on its own.
   */
  #step = _GhcbCall.#send;
  #rest;
  next(value) {
    return this.#step(this, value);
  }
  return(value) {
    const rest = this.#rest;
    if (rest) return rest.return(value);
    this.#step = _GhcbCall.#done;
    return { value, done: true };
  }
  throw(e) {
    const rest = this.#rest;
    if (rest) return rest.throw(e);
    this.#step = _GhcbCall.#done;
    throw e;
  }
  [Symbol.iterator]() {
    return this;
  }
  /** Build the request and send it; suspend at VMGEXIT. */
  static #send(call2) {
    call2.#step = _GhcbCall.#done;
    const tx = call2.tx;
    call2.build(tx.begin());
    if (!tx.send()) return call2.#continueWith(call2.#slow("send-failed"));
    call2.#step = _GhcbCall.#receive;
    return VMGEXIT_STEP;
  }
  /** Read the answer. */
  static #receive(call2) {
    call2.#step = _GhcbCall.#done;
    const tx = call2.tx;
    if (!tx.receive(0, 0)) return call2.#continueWith(call2.#slow("receive-failed"));
    const g = tx.codec;
    return { value: call2.answer(g, g.result()), done: true };
  }
  static #done() {
    return { value: void 0, done: true };
  }
  /** The rest of the request in a generator (the page is not RAM). */
  static #delegate(call2, value) {
    return call2.#rest.next(value);
  }
  #continueWith(rest) {
    this.#rest = rest;
    this.#step = _GhcbCall.#delegate;
    return rest.next();
  }
  /**
   * The request's page stores ('send-failed') or the answer's loads ('receive-failed') did not go
   * through: the rest of the exchange with trapping accesses, then the reply.
   */
  *#slow(from) {
    const tx = this.tx;
    const result = yield* tx.exchange(0, 0, from);
    return this.answer(tx.codec, result);
  }
};

// src/guest/ghcb-msr-protocol.ts
function* msrExchange(cpu, request, ghcbGpaLo, ghcbGpaHi) {
  cpu.ghcbMsr = BigInt.asUintN(64, request);
  yield VMGEXIT_OP;
  const response = cpu.ghcbMsr;
  cpu.setGhcbMsr(ghcbGpaLo, ghcbGpaHi);
  return response;
}
const CpuidMsrExchange = class {
  constructor(cpu, fn, reg, ghcbGpaLo, ghcbGpaHi) {
    this.cpu = cpu;
    this.fn = fn;
    this.ghcbGpaLo = ghcbGpaLo;
    this.ghcbGpaHi = ghcbGpaHi;
    this.#requestLo = ((reg & 3) << 30 | 4) >>> 0;
  }
  cpu;
  fn;
  ghcbGpaLo;
  ghcbGpaHi;
  /** 0: not started; 1: suspended at the VMGEXIT; 2: done. */
  #phase = 0;
  /** GHCBInfo with the register in [31:30]; the function is the high half. */
  #requestLo;
  next() {
    if (this.#phase === 0) {
      this.#phase = 1;
      this.cpu.setGhcbMsr(this.#requestLo, this.fn >>> 0);
      return VMGEXIT_STEP;
    }
    if (this.#phase !== 1) return { value: void 0, done: true };
    this.#phase = 2;
    const cpu = this.cpu;
    const value = (cpu.ghcbMsrLo & 4095) === 5 ? cpu.ghcbMsrHi : void 0;
    cpu.setGhcbMsr(this.ghcbGpaLo, this.ghcbGpaHi);
    return { value, done: true };
  }
  return(value) {
    this.#phase = 2;
    return { value, done: true };
  }
  throw(e) {
    this.#phase = 2;
    throw e;
  }
  [Symbol.iterator]() {
    return this;
  }
};

// src/cpu/intercepts.ts
const INTERCEPT_CR0_READ = 0;
const INTERCEPT_CR3_READ = 3;
const INTERCEPT_CR4_READ = 4;
const INTERCEPT_CR8_READ = 8;
const INTERCEPT_CR0_WRITE = 16;
const INTERCEPT_CR3_WRITE = 16 + 3;
const INTERCEPT_CR4_WRITE = 16 + 4;
const INTERCEPT_CR8_WRITE = 16 + 8;
const INTERCEPT_DR0_READ = 32;
const INTERCEPT_DR7_READ = 32 + 7;
const INTERCEPT_DR0_WRITE = 48;
const INTERCEPT_DR7_WRITE = 48 + 7;
const INTERCEPT_EXCEPTION_OFFSET = 64;
const INTERCEPT_INTR = 96;
const INTERCEPT_NMI = 97;
const INTERCEPT_SMI = 98;
const INTERCEPT_SELECTIVE_CR0 = 101;
const INTERCEPT_RDPMC = 111;
const INTERCEPT_CPUID = 114;
const INTERCEPT_RSM = 115;
const INTERCEPT_INVD = 118;
const INTERCEPT_PAUSE = 119;
const INTERCEPT_HLT = 120;
const INTERCEPT_INVLPG = 121;
const INTERCEPT_INVLPGA = 122;
const INTERCEPT_IOIO_PROT = 123;
const INTERCEPT_MSR_PROT = 124;
const INTERCEPT_TASK_SWITCH = 125;
const INTERCEPT_SHUTDOWN = 127;
const INTERCEPT_VMRUN = 128;
const INTERCEPT_VMMCALL = 129;
const INTERCEPT_VMLOAD = 130;
const INTERCEPT_VMSAVE = 131;
const INTERCEPT_STGI = 132;
const INTERCEPT_CLGI = 133;
const INTERCEPT_SKINIT = 134;
const INTERCEPT_RDTSCP = 135;
const INTERCEPT_WBINVD = 137;
const INTERCEPT_MONITOR = 138;
const INTERCEPT_MWAIT = 139;
const INTERCEPT_XSETBV = 141;
const INTERCEPT_RDPRU = 142;
const TRAP_EFER_WRITE = 143;
const TRAP_CR0_WRITE = 144;
const TRAP_CR4_WRITE = 144 + 4;
const TRAP_CR8_WRITE = 144 + 8;
const INTERCEPT_INVPCID = 162;
const INTERCEPT_IDLE_HLT = 166;
const INTERCEPT_BITS = 6 * 32;

// src/cpu/msrpm.ts
const IOPM_SIZE = 12288;
const MSRPM_SIZE = 8192;
const SVM_MSRS_PER_RANGE = 8192;
const SVM_MSRPM_BYTES_PER_RANGE = 2048;
const SVM_BITS_PER_MSR = 2;
const SVM_MSRPM_RANGES = [0, 3221225472, 3221291008];
function svmMsrpmBitNr(msr2) {
  const m = msr2 >>> 0;
  const offset = m & 8192 - 1;
  const range2 = SVM_MSRPM_RANGES.indexOf(m - offset >>> 0);
  if (range2 < 0) return -1;
  return range2 * 2048 * 8 + offset * 2;
}
function msrpmTest(msrpm, msr2, write) {
  const nr = svmMsrpmBitNr(msr2);
  if (nr < 0) return true;
  const bit = nr + (write ? 1 : 0);
  return (msrpm[bit >>> 3] >>> (bit & 7) & 1) !== 0;
}
function msrpmSet(msrpm, msr2, write, intercept) {
  const nr = svmMsrpmBitNr(msr2);
  if (nr < 0) return;
  const bit = nr + (write ? 1 : 0);
  const mask = 1 << (bit & 7);
  const i = bit >>> 3;
  msrpm[i] = intercept ? msrpm[i] | mask : msrpm[i] & ~mask;
}
function iopmTest(iopm, port, size) {
  const first = port & 65535;
  for (let p2 = first; p2 < first + size; p2++) if (iopm[p2 >>> 3] >>> (p2 & 7) & 1) return true;
  return false;
}

// src/cpu/regs.ts
const VCPU_REGS_RAX = 0;
const VCPU_REGS_RCX = 1;
const VCPU_REGS_RDX = 2;
const VCPU_REGS_RBX = 3;
const VCPU_REGS_RSP = 4;
const VCPU_REGS_RBP = 5;
const VCPU_REGS_RSI = 6;
const VCPU_REGS_RDI = 7;
const VCPU_REGS_R8 = 8;
const VCPU_REGS_RIP = 16;
const NR_VCPU_REGS = 17;
function newGprs() {
  return new Uint32Array(2 * 17);
}
function gpr(regs, r) {
  return BigInt(regs[2 * r + 1]) << 32n | BigInt(regs[2 * r]);
}
function setGpr(regs, r, v) {
  regs[2 * r] = Number(v & 0xffffffffn);
  regs[2 * r + 1] = Number(v >> 32n & 0xffffffffn);
}
function gpr32(regs, r) {
  return regs[2 * r];
}
function setGpr32(regs, r, v) {
  regs[2 * r] = v;
  regs[2 * r + 1] = 0;
}
function clearGprs(r) {
  r[0] = 0;
  r[1] = 0;
  r[2] = 0;
  r[3] = 0;
  r[4] = 0;
  r[5] = 0;
  r[6] = 0;
  r[7] = 0;
  r[8] = 0;
  r[9] = 0;
  r[10] = 0;
  r[11] = 0;
  r[12] = 0;
  r[13] = 0;
  r[14] = 0;
  r[15] = 0;
  r[16] = 0;
  r[17] = 0;
  r[18] = 0;
  r[19] = 0;
  r[20] = 0;
  r[21] = 0;
  r[22] = 0;
  r[23] = 0;
  r[24] = 0;
  r[25] = 0;
  r[26] = 0;
  r[27] = 0;
  r[28] = 0;
  r[29] = 0;
  r[30] = 0;
  r[31] = 0;
  r[32] = 0;
  r[33] = 0;
}

// src/cpu/vmcb.ts
const VMCB_CONTROL_SIZE = 1024;
const VMCB_SAVE_SIZE = 4096;
const VMCB_INTERCEPTS = 0;
const VMCB_TLB_CTL = 92;
const TLB_CONTROL_DO_NOTHING = 0;
const TLB_CONTROL_FLUSH_ASID = 3;
const VMCB_INT_CTL = 96;
const VMCB_INT_STATE = 104;
const VMCB_EXIT_CODE = 112;
const VMCB_EXIT_CODE_HI = 116;
const VMCB_EXIT_INFO_1 = 120;
const VMCB_EXIT_INFO_2 = 128;
const VMCB_EXIT_INT_INFO = 136;
const VMCB_GHCB_GPA = 160;
const VMCB_EVENT_INJ = 168;
const VMCB_EVENT_INJ_ERR = 172;
const VMCB_NEXT_RIP = 200;
const VMCB_INSN_LEN = 208;
const VMCB_INSN_BYTES = 209;
const VMCB_INSN_BYTES_MAX = 15;
const SAVE_ES = 0;
const SAVE_CS = 16;
const SAVE_SS = 32;
const SAVE_DS = 48;
const SAVE_FS = 64;
const SAVE_GS = 80;
const SAVE_GDTR = 96;
const SAVE_LDTR = 112;
const SAVE_IDTR = 128;
const SAVE_TR = 144;
const SAVE_CPL = 203;
const SAVE_EFER = 208;
const SAVE_CR4 = 328;
const SAVE_CR3 = 336;
const SAVE_CR0 = 344;
const SAVE_DR7 = 352;
const SAVE_DR6 = 360;
const SAVE_RFLAGS = 368;
const SAVE_RIP = 376;
const SAVE_STAR = 512;
const SAVE_LSTAR = 520;
const SAVE_CSTAR = 528;
const SAVE_SFMASK = 536;
const SAVE_KERNEL_GS_BASE = 544;
const SAVE_SYSENTER_CS = 552;
const SAVE_SYSENTER_ESP = 560;
const SAVE_SYSENTER_EIP = 568;
const SAVE_CR2 = 576;
const SAVE_G_PAT = 616;
const SAVE_DBGCTL = 624;
const SAVE_XCR0 = 1e3;
const SVM_SELECTOR_TYPE_MASK = 15;
const SVM_SELECTOR_S_MASK = 1 << 4;
const SVM_SELECTOR_DPL_SHIFT = 5;
const SVM_SELECTOR_P_MASK = 1 << 7;
const SVM_SELECTOR_AVL_MASK = 1 << 8;
const SVM_SELECTOR_L_MASK = 1 << 9;
const SVM_SELECTOR_DB_MASK = 1 << 10;
const SVM_SELECTOR_G_MASK = 1 << 11;
const V_IRQ_MASK = 1 << 8;
const V_INTR_MASKING_MASK = 1 << 24;
const SVM_INTERRUPT_SHADOW_MASK = 1;
const TWO32 = 4294967296;
function getU64Number(view, off) {
  return view.getUint32(off, true) + view.getUint32(off + 4, true) * 4294967296;
}
function setU64Number(view, off, v) {
  const lo = v >>> 0;
  view.setUint32(off, lo, true);
  view.setUint32(off + 4, v < 4294967296 ? 0 : (v - lo) / 4294967296, true);
}
function getS64Number(view, off) {
  return view.getInt32(off + 4, true) * 4294967296 + view.getUint32(off, true);
}
function setS64Number(view, off, v) {
  view.setUint32(off, v >>> 0, true);
  view.setUint32(off + 4, Math.floor(v / 4294967296) >>> 0, true);
}
const Vmcb = class {
  control;
  save;
  /** The 15 decode-assist bytes, aliasing the control area. */
  insnBytes;
  /**
   * The I/O permission map (msrpm.ts). Hardware reads it at iopm_base_pa, a host physical address;
   * the model has no host physical memory, so the map lives here and iopm_base_pa stays 0. A fresh
   * VMCB's map is all clear; KVM fills it (init_vmcb).
   */
  iopm = new Uint8Array(12288);
  /** The MSR permission map (msrpm.ts), read by hardware at msrpm_base_pa; here for the same reason. */
  msrpm = new Uint8Array(8192);
  constructor() {
    const control = new Uint8Array(1024);
    this.control = new DataView(control.buffer);
    this.save = new DataView(new ArrayBuffer(4096));
    this.insnBytes = control.subarray(209, 209 + 15);
  }
  // Intercepts: bit n of the vector is the intercept of SVM exit code n (0x00-0xbf), as KVM's
  // INTERCEPT_* enum (intercepts.ts) numbers them.
  /** vmcb_is_intercept. */
  isIntercept(exitCode) {
    return (this.control.getUint32(0 + 4 * (exitCode >>> 5), true) & 1 << (exitCode & 31)) !== 0;
  }
  /** vmcb_set_intercept / vmcb_clr_intercept. */
  setIntercept(exitCode, on) {
    const off = 0 + 4 * (exitCode >>> 5);
    const w = this.control.getUint32(off, true);
    const bit = 1 << (exitCode & 31);
    this.control.setUint32(off, on ? (w | bit) >>> 0 : (w & ~bit) >>> 0, true);
  }
  /**
   * Does RDMSR (`write` false) or WRMSR of MSR `index` #VMEXIT with SVM_EXIT_MSR? Only when the
   * VMCB intercepts MSR_PROT and the MSR permission map intercepts the access (an MSR outside the
   * map's three ranges always is). What the CPU asks before it runs the instruction itself.
   */
  msrIntercepted(index, write) {
    return this.isIntercept(124) && msrpmTest(this.msrpm, index, write);
  }
  /**
   * Does an IN/OUT/INS/OUTS of `size` bytes (1, 2 or 4) at `port` #VMEXIT with SVM_EXIT_IOIO? Only
   * when the VMCB intercepts IOIO_PROT and the I/O permission map has a bit set for any byte of it.
   */
  ioIntercepted(port, size) {
    return this.isIntercept(123) && iopmTest(this.iopm, port, size);
  }
  // #VMEXIT fields, written by the CPU.
  get exitCode() {
    return this.control.getUint32(112, true);
  }
  set exitCode(v) {
    this.control.setUint32(112, v >>> 0, true);
  }
  get exitCodeHi() {
    return this.control.getUint32(116, true);
  }
  set exitCodeHi(v) {
    this.control.setUint32(116, v >>> 0, true);
  }
  get exitInfo1Lo() {
    return this.control.getUint32(120, true);
  }
  get exitInfo1Hi() {
    return this.control.getUint32(120 + 4, true);
  }
  get exitInfo2Lo() {
    return this.control.getUint32(128, true);
  }
  get exitInfo2Hi() {
    return this.control.getUint32(128 + 4, true);
  }
  get exitInfo1() {
    return this.control.getBigUint64(120, true);
  }
  get exitInfo2() {
    return this.control.getBigUint64(128, true);
  }
  /** exit_info_2 as a guest physical address (NPF): exact, since a GPA is below 2^52. */
  get exitInfo2Gpa() {
    return getU64Number(this.control, 128);
  }
  /** Write exit_code (exit_code_hi: `codeHi`, 0 unless given) and both infos as 32-bit halves. */
  setExit(code, info1Lo, info1Hi, info2Lo, info2Hi, codeHi = 0) {
    const c = this.control;
    c.setUint32(112, code >>> 0, true);
    c.setUint32(116, codeHi >>> 0, true);
    c.setUint32(120, info1Lo >>> 0, true);
    c.setUint32(120 + 4, info1Hi >>> 0, true);
    c.setUint32(128, info2Lo >>> 0, true);
    c.setUint32(128 + 4, info2Hi >>> 0, true);
  }
  get nextRip() {
    return this.control.getBigUint64(200, true);
  }
  set nextRip(v) {
    this.control.setBigUint64(200, BigInt.asUintN(64, v), true);
  }
  get insnLen() {
    return this.control.getUint8(208);
  }
  set insnLen(v) {
    this.control.setUint8(208, v);
  }
  // Fields KVM writes for the next VMRUN.
  get eventInj() {
    return this.control.getUint32(168, true);
  }
  set eventInj(v) {
    this.control.setUint32(168, v >>> 0, true);
  }
  get eventInjErr() {
    return this.control.getUint32(172, true);
  }
  set eventInjErr(v) {
    this.control.setUint32(172, v >>> 0, true);
  }
  get intCtl() {
    return this.control.getUint32(96, true);
  }
  set intCtl(v) {
    this.control.setUint32(96, v >>> 0, true);
  }
  /** tlb_ctl (a byte): the TLB flush the next VMRUN does (TLB_CONTROL_*). */
  get tlbCtl() {
    return this.control.getUint8(92);
  }
  set tlbCtl(v) {
    this.control.setUint8(92, v);
  }
  get intState() {
    return this.control.getUint32(104, true);
  }
  set intState(v) {
    this.control.setUint32(104, v >>> 0, true);
  }
  /** The GHCB MSR (SEV-ES): hardware reads and writes it here, not in the save area. */
  get ghcbGpa() {
    return this.control.getBigUint64(160, true);
  }
  set ghcbGpa(v) {
    this.control.setBigUint64(160, BigInt.asUintN(64, v), true);
  }
  /** Bits 31:0 and 63:32 of the GHCB MSR: the protocol's GHCBInfo and CPUID value fit in a number. */
  get ghcbGpaLo() {
    return this.control.getUint32(160, true);
  }
  get ghcbGpaHi() {
    return this.control.getUint32(160 + 4, true);
  }
  /** Write the GHCB MSR as two 32-bit halves. */
  setGhcbGpa(lo, hi) {
    this.control.setUint32(160, lo >>> 0, true);
    this.control.setUint32(160 + 4, hi >>> 0, true);
  }
};
function setSaveU64(save, off, v) {
  save.setBigUint64(off, BigInt.asUintN(64, v), true);
}
function saveSegment(save, off) {
  return {
    selector: save.getUint16(off, true),
    attrib: save.getUint16(off + 2, true),
    limit: save.getUint32(off + 4, true),
    base: save.getBigUint64(off + 8, true)
  };
}
function setSaveSegment(save, off, s) {
  save.setUint16(off, s.selector & 65535, true);
  save.setUint16(off + 2, s.attrib & 4095, true);
  save.setUint32(off + 4, s.limit >>> 0, true);
  save.setBigUint64(off + 8, BigInt.asUintN(64, s.base), true);
}

// src/cpu/reset.ts
const EFER_LMA = 1 << 10;
const EFER_LME = 1 << 8;
const EFER_SVME = 1 << 12;
const CR0_PE = 1;
const CR0_PG = 2147483648;
const CR4_PAE = 1 << 5;
const RFLAGS_IF = 1 << 9;
const PAT_RESET = 0x0007040600070406n;
function writeResetState(save) {
  new Uint8Array(save.buffer, save.byteOffset, save.byteLength).fill(0);
  const data = 2 | SVM_SELECTOR_S_MASK | SVM_SELECTOR_P_MASK;
  for (const off of [0, 32, 48, 64, 80]) {
    setSaveSegment(save, off, { selector: 0, attrib: data, limit: 65535, base: 0n });
  }
  setSaveSegment(save, 16, {
    selector: 61440,
    attrib: 10 | SVM_SELECTOR_S_MASK | SVM_SELECTOR_P_MASK,
    limit: 65535,
    base: 0xffff0000n
  });
  setSaveSegment(save, 96, { selector: 0, attrib: 0, limit: 65535, base: 0n });
  setSaveSegment(save, 128, { selector: 0, attrib: 0, limit: 65535, base: 0n });
  setSaveSegment(save, 112, {
    selector: 0,
    attrib: 2 | SVM_SELECTOR_P_MASK,
    limit: 65535,
    base: 0n
  });
  setSaveSegment(save, 144, { selector: 0, attrib: 3 | SVM_SELECTOR_P_MASK, limit: 65535, base: 0n });
  setSaveU64(save, 344, 0x60000010n);
  setSaveU64(save, 368, 2n);
  setSaveU64(save, 376, 0xfff0n);
  setSaveU64(save, 360, 0xffff0ff0n);
  setSaveU64(save, 352, 0x400n);
  setSaveU64(save, 616, PAT_RESET);
  setSaveU64(save, 208, 0n);
}
function codeSize(save) {
  const cr0 = save.getUint32(344, true);
  const cs = save.getUint16(16 + 2, true);
  if (save.getUint32(208, true) & EFER_LMA && cs & SVM_SELECTOR_L_MASK) return 64;
  if (cr0 & 1 && cs & SVM_SELECTOR_DB_MASK) return 32;
  return 16;
}
function resetFpu() {
  return {
    fpr: new Uint8Array(128),
    fcw: 895,
    fsw: 0,
    ftwx: 0,
    lastOpcode: 0,
    lastIp: 0n,
    lastDp: 0n,
    xmm: new Uint8Array(256),
    mxcsr: 8064
  };
}

// src/cpu/sev-es-exits.ts
const X86_TRAP_VC = 29;
const VMEXIT_BUSY = -2;
const VMEXIT_IDLE_REQUIRED = -3;
const VMEXIT_INVALID_PMC = -4;
const SEV_ES_AUTOMATIC_EXITS = /* @__PURE__ */ new Set([
  64 + 18,
  96,
  97,
  98,
  99,
  100,
  119,
  120,
  127,
  143,
  ...Array.from({ length: 16 }, (_, n2) => 144 + n2),
  165,
  166,
  1024,
  1027,
  (-1),
  (-2),
  (-3),
  (-4)
]);
const NPF_RSVD = 1 << 3;
function sevEsExitIsAutomatic(exitCode, exitInfo1Lo = 0) {
  if (exitCode === 1024) return (exitInfo1Lo & NPF_RSVD) === 0;
  return SEV_ES_AUTOMATIC_EXITS.has(exitCode);
}

// src/cpu/x86/alu.ts
const alu_exports = {};
__export(alu_exports, {
  aaa: () => aaa,
  aad: () => aad,
  aam: () => aam,
  aas: () => aas,
  adc: () => adc,
  add: () => add,
  and: () => and,
  bsf: () => bsf,
  bsr: () => bsr,
  bt: () => bt,
  btc: () => btc,
  btr: () => btr,
  bts: () => bts,
  cmp: () => cmp,
  daa: () => daa,
  das: () => das,
  dec: () => dec,
  div: () => div,
  idiv: () => idiv,
  imul1: () => imul1,
  imul2: () => imul2,
  inc: () => inc,
  mul: () => mul,
  neg: () => neg,
  not: () => not,
  or: () => or,
  rcl: () => rcl,
  rcr: () => rcr,
  rol: () => rol,
  ror: () => ror,
  sal: () => sal,
  sar: () => sar,
  sbb: () => sbb,
  shl: () => shl,
  shld: () => shld,
  shr: () => shr,
  shrd: () => shrd,
  sub: () => sub,
  test: () => test,
  xor: () => xor
});

// src/cpu/x86/flags.ts
const LAZY_NONE = 0;
const LAZY_ADD = 1;
const LAZY_ADC = 2;
const LAZY_SUB = 3;
const LAZY_SBB = 4;
const LAZY_LOGIC = 5;
const LAZY_INC = 6;
const LAZY_DEC = 7;
const LAZY_NEG = 8;
const LAZY_RESULT = 9;
const LAZY_MUL = 10;
const RFLAGS_CF = 1;
const RFLAGS_FIXED = 2;
const RFLAGS_PF = 4;
const RFLAGS_AF = 16;
const RFLAGS_ZF = 64;
const RFLAGS_SF = 128;
const RFLAGS_TF = 256;
const RFLAGS_IF2 = 512;
const RFLAGS_DF = 1024;
const RFLAGS_OF = 2048;
const RFLAGS_NT = 16384;
const RFLAGS_RF = 65536;
const RFLAGS_VM = 131072;
const RFLAGS_AC = 262144;
const RFLAGS_ARITH = 1 | 4 | 16 | 64 | 128 | 2048;
const RFLAGS_DEFINED = 4161495;
const Flags = class {
  /** Lazy kind (LAZY_*). */
  op = 0;
  /** Operand size in bytes: 1, 2, 4 or 8. */
  size = 4;
  /**
   * Result and operands as 32-bit halves, int32 bit patterns (`x >>> 0` is the u32); for size < 8
   * the values are already truncated and hi = 0.
   */
  resLo = 0;
  resHi = 0;
  aLo = 0;
  aHi = 0;
  bLo = 0;
  bHi = 0;
  /** Carry-in of ADC/SBB, and CF preserved across INC/DEC (0 or 1). */
  carry = 0;
  /** RFLAGS as materialised; the arithmetic bits are stale while op !== LAZY_NONE. Bit 1 always set. */
  bits = 2;
  /** High half of a MUL/IMUL product, remainder of DIV/IDIV (int32 halves too; not flags state). */
  hiLo = 0;
  hiHi = 0;
};
function msb(size, lo, hi) {
  return size === 8 ? hi >>> 31 : lo >>> (size << 3) - 1 & 1;
}
function parity(v) {
  const x = (v ^ v >>> 4) & 15;
  return (38505 >>> x & 1) !== 0;
}
function ltu(aLo, aHi, bLo, bHi) {
  return aHi >>> 0 < bHi >>> 0 || aHi === bHi && aLo >>> 0 < bLo >>> 0;
}
function cf(f) {
  switch (f.op) {
    case 1:
      return ltu(f.resLo, f.resHi, f.aLo, f.aHi);
    case 2:
      return f.carry !== 0 ? !ltu(f.aLo, f.aHi, f.resLo, f.resHi) : ltu(f.resLo, f.resHi, f.aLo, f.aHi);
    case 3:
    case 8:
      return ltu(f.aLo, f.aHi, f.bLo, f.bHi);
    case 4:
      return f.carry !== 0 ? !ltu(f.bLo, f.bHi, f.aLo, f.aHi) : ltu(f.aLo, f.aHi, f.bLo, f.bHi);
    case 6:
    case 7:
      return f.carry !== 0;
    case 5:
      return false;
    default:
      return (f.bits & 1) !== 0;
  }
}
function zf(f) {
  const op = f.op;
  return op === 0 || op === 10 ? (f.bits & 64) !== 0 : (f.resLo | f.resHi) === 0;
}
function sf(f) {
  return f.op === 0 ? (f.bits & 128) !== 0 : msb(f.size, f.resLo, f.resHi) !== 0;
}
function pf(f) {
  return f.op === 0 ? (f.bits & 4) !== 0 : parity(f.resLo);
}
function af(f) {
  switch (f.op) {
    case 0:
    case 9:
    case 10:
      return (f.bits & 16) !== 0;
    case 5:
      return false;
    default:
      return ((f.aLo ^ f.bLo ^ f.resLo) & 16) !== 0;
  }
}
function of(f) {
  switch (f.op) {
    case 1:
    case 2:
    case 6:
      return msb(f.size, (f.aLo ^ f.resLo) & (f.bLo ^ f.resLo), (f.aHi ^ f.resHi) & (f.bHi ^ f.resHi)) !== 0;
    case 3:
    case 4:
    case 7:
    case 8:
      return msb(f.size, (f.aLo ^ f.bLo) & (f.aLo ^ f.resLo), (f.aHi ^ f.bHi) & (f.aHi ^ f.resHi)) !== 0;
    case 5:
      return false;
    default:
      return (f.bits & 2048) !== 0;
  }
}
function readRflags(f) {
  const op = f.op;
  if (op === 0) return f.bits;
  const size = f.size;
  const rLo2 = f.resLo;
  const rHi2 = f.resHi;
  let v = ((rLo2 | rHi2) === 0 ? 64 : 0) | (msb(size, rLo2, rHi2) !== 0 ? 128 : 0) | (parity(rLo2) ? 4 : 0);
  switch (op) {
    case 5:
      return f.bits & ~RFLAGS_ARITH | v;
    case 9:
      return f.bits & ~(64 | 128 | 4) | v;
    case 10:
      return f.bits & ~(128 | 4) | v & (128 | 4);
    case 1:
    case 2:
    case 6:
      v |= msb(size, (f.aLo ^ rLo2) & (f.bLo ^ rLo2), (f.aHi ^ rHi2) & (f.bHi ^ rHi2)) << 11;
      break;
    default:
      v |= msb(size, (f.aLo ^ f.bLo) & (f.aLo ^ rLo2), (f.aHi ^ f.bHi) & (f.aHi ^ rHi2)) << 11;
  }
  return f.bits & ~RFLAGS_ARITH | v | (f.aLo ^ f.bLo ^ rLo2) & 16 | (cf(f) ? 1 : 0);
}
function materialise(f) {
  if (f.op === 0) return;
  f.bits = readRflags(f);
  f.op = 0;
}
function writeRflags(f, v) {
  f.bits = v & 4161495 | 2;
  f.op = 0;
}
function cond(f, cc) {
  const t = cc >>> 1;
  const op = f.op;
  let r;
  if (op === 3 && (t === 1 || t === 3 || t >= 6)) r = condSub(f, t);
  else if (op === 5) r = condLogic(f, t);
  else {
    switch (t) {
      case 0:
        r = of(f);
        break;
      case 1:
        r = cf(f);
        break;
      case 2:
        r = zf(f);
        break;
      case 3:
        r = cf(f) || zf(f);
        break;
      case 4:
        r = sf(f);
        break;
      case 5:
        r = pf(f);
        break;
      case 6:
        r = sf(f) !== of(f);
        break;
      default:
        r = zf(f) || sf(f) !== of(f);
    }
  }
  return (cc & 1) === 0 ? r : !r;
}
function condSub(f, t) {
  const aLo = f.aLo;
  const aHi = f.aHi;
  const bLo = f.bLo;
  const bHi = f.bHi;
  if (t === 1) return ltu(aLo, aHi, bLo, bHi);
  if (t === 3) return !ltu(bLo, bHi, aLo, aHi);
  let lt;
  if (f.size === 8) lt = aHi < bHi || aHi === bHi && aLo >>> 0 < bLo >>> 0;
  else {
    const sh = 32 - (f.size << 3);
    lt = aLo << sh < bLo << sh;
  }
  return t === 6 ? lt : lt || aLo === bLo && aHi === bHi;
}
function condLogic(f, t) {
  switch (t) {
    case 0:
    case 1:
      return false;
    case 2:
    case 3:
      return (f.resLo | f.resHi) === 0;
    case 4:
    case 6:
      return msb(f.size, f.resLo, f.resHi) !== 0;
    case 5:
      return parity(f.resLo);
    default:
      return (f.resLo | f.resHi) === 0 || msb(f.size, f.resLo, f.resHi) !== 0;
  }
}

// src/cpu/x86/alu.ts
const TWO322 = 4294967296;
function lowMask(size) {
  return size === 1 ? 255 : size === 2 ? 65535 : -1;
}
function record(f, op, size, aLo, aHi, bLo, bHi, resLo, resHi) {
  f.op = op;
  f.size = size;
  f.aLo = aLo;
  f.aHi = aHi;
  f.bLo = bLo;
  f.bHi = bHi;
  f.resLo = resLo;
  f.resHi = resHi;
}
function add(f, size, aLo, aHi, bLo, bHi) {
  if (size === 8) {
    const s = (aLo >>> 0) + (bLo >>> 0);
    record(
      f,
      1,
      8,
      aLo | 0,
      aHi | 0,
      bLo | 0,
      bHi | 0,
      s | 0,
      aHi + bHi + (s > 4294967295 ? 1 : 0) | 0
    );
  } else {
    const m = lowMask(size);
    aLo &= m;
    bLo &= m;
    record(f, 1, size, aLo, 0, bLo, 0, aLo + bLo & m, 0);
  }
}
function adc(f, size, aLo, aHi, bLo, bHi) {
  const c = cf(f) ? 1 : 0;
  f.carry = c;
  if (size === 8) {
    const s = (aLo >>> 0) + (bLo >>> 0) + c;
    record(
      f,
      2,
      8,
      aLo | 0,
      aHi | 0,
      bLo | 0,
      bHi | 0,
      s | 0,
      aHi + bHi + (s > 4294967295 ? 1 : 0) | 0
    );
  } else {
    const m = lowMask(size);
    aLo &= m;
    bLo &= m;
    record(f, 2, size, aLo, 0, bLo, 0, aLo + bLo + c & m, 0);
  }
}
function sub(f, size, aLo, aHi, bLo, bHi) {
  if (size === 8) {
    const borrow = aLo >>> 0 < bLo >>> 0 ? 1 : 0;
    record(f, 3, 8, aLo | 0, aHi | 0, bLo | 0, bHi | 0, aLo - bLo | 0, aHi - bHi - borrow | 0);
  } else {
    const m = lowMask(size);
    aLo &= m;
    bLo &= m;
    record(f, 3, size, aLo, 0, bLo, 0, aLo - bLo & m, 0);
  }
}
const cmp = sub;
function sbb(f, size, aLo, aHi, bLo, bHi) {
  const c = cf(f) ? 1 : 0;
  f.carry = c;
  if (size === 8) {
    const s = (aLo >>> 0) - (bLo >>> 0) - c;
    record(f, 4, 8, aLo | 0, aHi | 0, bLo | 0, bHi | 0, s | 0, aHi - bHi - (s < 0 ? 1 : 0) | 0);
  } else {
    const m = lowMask(size);
    aLo &= m;
    bLo &= m;
    record(f, 4, size, aLo, 0, bLo, 0, aLo - bLo - c & m, 0);
  }
}
function inc(f, size, aLo, aHi) {
  f.carry = cf(f) ? 1 : 0;
  if (size === 8) {
    const lo = aLo + 1 | 0;
    record(f, 6, 8, aLo | 0, aHi | 0, 1, 0, lo, aHi + (lo === 0 ? 1 : 0) | 0);
  } else {
    const m = lowMask(size);
    aLo &= m;
    record(f, 6, size, aLo, 0, 1, 0, aLo + 1 & m, 0);
  }
}
function dec(f, size, aLo, aHi) {
  f.carry = cf(f) ? 1 : 0;
  if (size === 8) {
    aLo |= 0;
    record(f, 7, 8, aLo, aHi | 0, 1, 0, aLo - 1 | 0, aHi - (aLo === 0 ? 1 : 0) | 0);
  } else {
    const m = lowMask(size);
    aLo &= m;
    record(f, 7, size, aLo, 0, 1, 0, aLo - 1 & m, 0);
  }
}
function neg(f, size, aLo, aHi) {
  if (size === 8) {
    aLo |= 0;
    record(f, 8, 8, 0, 0, aLo, aHi | 0, -aLo | 0, 0 - aHi - (aLo !== 0 ? 1 : 0) | 0);
  } else {
    const m = lowMask(size);
    aLo &= m;
    record(f, 8, size, 0, 0, aLo, 0, -aLo & m, 0);
  }
}
function logic(f, size, lo, hi) {
  f.op = 5;
  f.size = size;
  if (size === 8) {
    f.resLo = lo;
    f.resHi = hi;
  } else {
    f.resLo = lo & lowMask(size);
    f.resHi = 0;
  }
}
function and(f, size, aLo, aHi, bLo, bHi) {
  logic(f, size, aLo & bLo, aHi & bHi);
}
function or(f, size, aLo, aHi, bLo, bHi) {
  logic(f, size, aLo | bLo, aHi | bHi);
}
function xor(f, size, aLo, aHi, bLo, bHi) {
  logic(f, size, aLo ^ bLo, aHi ^ bHi);
}
const test = and;
function not(f, size, aLo, aHi) {
  materialise(f);
  f.resLo = ~aLo & lowMask(size);
  f.resHi = size === 8 ? ~aHi : 0;
}
var tLo = 0;
var tHi = 0;
function shl64(lo, hi, c) {
  if (c === 0) {
    tLo = lo | 0;
    tHi = hi | 0;
  } else if (c < 32) {
    tHi = hi << c | lo >>> 32 - c;
    tLo = lo << c;
  } else if (c < 64) {
    tHi = lo << c - 32;
    tLo = 0;
  } else {
    tLo = 0;
    tHi = 0;
  }
}
function shr64(lo, hi, c) {
  if (c === 0) {
    tLo = lo | 0;
    tHi = hi | 0;
  } else if (c < 32) {
    tLo = lo >>> c | hi << 32 - c;
    tHi = hi >>> c;
  } else if (c < 64) {
    tLo = hi >>> c - 32 | 0;
    tHi = 0;
  } else {
    tLo = 0;
    tHi = 0;
  }
}
function bit64(lo, hi, i) {
  return (i < 32 ? lo >>> i : hi >>> i - 32) & 1;
}
function keep(f, size, aLo, aHi) {
  materialise(f);
  f.resLo = aLo & lowMask(size);
  f.resHi = size === 8 ? aHi | 0 : 0;
}
function shl(f, size, aLo, aHi, count) {
  let lo;
  let hi = 0;
  let c;
  let o;
  if (size === 8) {
    const n2 = count & 63;
    if (n2 === 0) {
      keep(f, 8, aLo, aHi);
      return;
    }
    if (n2 < 32) {
      hi = aHi << n2 | aLo >>> 32 - n2;
      lo = aLo << n2;
      c = aHi >>> 32 - n2 & 1;
    } else {
      hi = aLo << n2 - 32;
      lo = 0;
      c = n2 === 32 ? aHi & 1 : aLo >>> 64 - n2 & 1;
    }
    o = (aHi >>> 31 ^ aHi >>> 30) & 1;
  } else {
    const n2 = count & 31;
    if (n2 === 0) {
      keep(f, size, aLo, aHi);
      return;
    }
    const w = size << 3;
    const m = lowMask(size);
    const a = aLo & m;
    lo = a << n2 & m;
    c = n2 <= w ? a >>> w - n2 & 1 : 0;
    o = (a >>> w - 1 ^ a >>> w - 2) & 1;
  }
  f.bits = f.bits & ~(1 | 16 | 2048) | c | o << 11;
  f.op = 9;
  f.size = size;
  f.resLo = lo;
  f.resHi = hi;
}
const sal = shl;
function shr(f, size, aLo, aHi, count) {
  let lo;
  let hi = 0;
  let c;
  let o;
  if (size === 8) {
    const n2 = count & 63;
    if (n2 === 0) {
      keep(f, 8, aLo, aHi);
      return;
    }
    if (n2 < 32) {
      lo = aLo >>> n2 | aHi << 32 - n2;
      hi = aHi >>> n2;
      c = aLo >>> n2 - 1 & 1;
    } else {
      lo = aHi >>> n2 - 32 | 0;
      c = aHi >>> n2 - 33 & 1;
      if (n2 === 32) c = aLo >>> 31;
    }
    o = aHi >>> 31;
  } else {
    const n2 = count & 31;
    if (n2 === 0) {
      keep(f, size, aLo, aHi);
      return;
    }
    const a = aLo & lowMask(size);
    lo = a >>> n2;
    c = a >>> n2 - 1 & 1;
    o = a >>> (size << 3) - 1 & 1;
  }
  f.bits = f.bits & ~(1 | 16 | 2048) | c | o << 11;
  f.op = 9;
  f.size = size;
  f.resLo = lo;
  f.resHi = hi;
}
function sar(f, size, aLo, aHi, count) {
  let lo;
  let hi = 0;
  let c;
  if (size === 8) {
    const n2 = count & 63;
    if (n2 === 0) {
      keep(f, 8, aLo, aHi);
      return;
    }
    if (n2 < 32) {
      lo = aLo >>> n2 | aHi << 32 - n2;
      hi = aHi >> n2;
      c = aLo >>> n2 - 1 & 1;
    } else {
      lo = aHi >> n2 - 32;
      hi = aHi >> 31;
      c = n2 === 32 ? aLo >>> 31 : aHi >>> n2 - 33 & 1;
    }
  } else {
    const n2 = count & 31;
    if (n2 === 0) {
      keep(f, size, aLo, aHi);
      return;
    }
    const sh = 32 - (size << 3);
    const s = aLo << sh >> sh;
    lo = s >> n2 & lowMask(size);
    c = s >> n2 - 1 & 1;
  }
  f.bits = f.bits & ~(1 | 16 | 2048) | c;
  f.op = 9;
  f.size = size;
  f.resLo = lo;
  f.resHi = hi;
}
function rotated(f, lo, hi, c, o) {
  materialise(f);
  f.bits = f.bits & ~(1 | 2048) | c | o << 11;
  f.resLo = lo;
  f.resHi = hi;
}
function rol(f, size, aLo, aHi, count) {
  if (size === 8) {
    let n2 = count & 63;
    if (n2 === 0) {
      keep(f, 8, aLo, aHi);
      return;
    }
    let lo = aLo | 0;
    let hi = aHi | 0;
    if (n2 >= 32) {
      lo = aHi | 0;
      hi = aLo | 0;
      n2 -= 32;
    }
    if (n2 !== 0) {
      const l = lo << n2 | hi >>> 32 - n2;
      hi = hi << n2 | lo >>> 32 - n2;
      lo = l;
    }
    rotated(f, lo, hi, lo & 1, (aHi >>> 31 ^ aHi >>> 30) & 1);
  } else {
    const c = count & 31;
    if (c === 0) {
      keep(f, size, aLo, aHi);
      return;
    }
    const w = size << 3;
    const m = lowMask(size);
    const a = aLo & m;
    const r = c & w - 1;
    const res = (a << r | a >>> w - r) & m;
    rotated(f, res, 0, res & 1, (a >>> w - 1 ^ a >>> w - 2) & 1);
  }
}
function ror(f, size, aLo, aHi, count) {
  if (size === 8) {
    let n2 = count & 63;
    if (n2 === 0) {
      keep(f, 8, aLo, aHi);
      return;
    }
    let lo = aLo | 0;
    let hi = aHi | 0;
    if (n2 >= 32) {
      lo = aHi | 0;
      hi = aLo | 0;
      n2 -= 32;
    }
    if (n2 !== 0) {
      const l = lo >>> n2 | hi << 32 - n2;
      hi = hi >>> n2 | lo << 32 - n2;
      lo = l;
    }
    rotated(f, lo, hi, hi >>> 31, (aHi >>> 31 ^ aLo) & 1);
  } else {
    const c = count & 31;
    if (c === 0) {
      keep(f, size, aLo, aHi);
      return;
    }
    const w = size << 3;
    const m = lowMask(size);
    const a = aLo & m;
    const r = c & w - 1;
    const res = (a >>> r | a << w - r) & m;
    rotated(f, res, 0, res >>> w - 1 & 1, (a >>> w - 1 ^ a) & 1);
  }
}
function rcl(f, size, aLo, aHi, count) {
  if (size === 8) {
    const c = count & 63;
    if (c === 0) {
      keep(f, size, aLo, aHi);
      return;
    }
    const cin = cf(f) ? 1 : 0;
    shl64(aLo, aHi, c);
    let lo = tLo;
    let hi = tHi;
    if (c <= 32) lo |= cin << c - 1;
    else hi |= cin << c - 33;
    shr64(aLo, aHi, 65 - c);
    rotated(f, lo | tLo, hi | tHi, bit64(aLo, aHi, 64 - c), (aHi >>> 31 ^ aHi >>> 30) & 1);
  } else {
    const n2 = size << 3;
    const c = size === 4 ? count & 31 : (count & 31) % (n2 + 1);
    if (c === 0) {
      keep(f, size, aLo, aHi);
      return;
    }
    const cin = cf(f) ? 1 : 0;
    const m = lowMask(size);
    const a = aLo & m;
    let res;
    let cout;
    if (size === 4) {
      res = a << c | cin << c - 1 | (c === 1 ? 0 : a >>> 33 - c);
      cout = a >>> 32 - c & 1;
    } else {
      const w = cin << n2 | a;
      const r = (w << c | w >>> n2 + 1 - c) & (2 << n2) - 1;
      res = r & m;
      cout = r >>> n2;
    }
    rotated(f, res, 0, cout, (a >>> n2 - 1 ^ a >>> n2 - 2) & 1);
  }
}
function rcr(f, size, aLo, aHi, count) {
  if (size === 8) {
    const c = count & 63;
    if (c === 0) {
      keep(f, size, aLo, aHi);
      return;
    }
    const cin = cf(f) ? 1 : 0;
    shr64(aLo, aHi, c);
    let lo = tLo;
    let hi = tHi;
    if (c > 32) lo |= cin << 64 - c;
    else hi |= cin << 32 - c;
    shl64(aLo, aHi, 65 - c);
    rotated(f, lo | tLo, hi | tHi, bit64(aLo, aHi, c - 1), (aHi >>> 31 ^ cin) & 1);
  } else {
    const n2 = size << 3;
    const c = size === 4 ? count & 31 : (count & 31) % (n2 + 1);
    if (c === 0) {
      keep(f, size, aLo, aHi);
      return;
    }
    const cin = cf(f) ? 1 : 0;
    const m = lowMask(size);
    const a = aLo & m;
    let res;
    let cout;
    if (size === 4) {
      res = a >>> c | cin << 32 - c | (c === 1 ? 0 : a << 33 - c);
      cout = a >>> c - 1 & 1;
    } else {
      const w = cin << n2 | a;
      const r = (w >>> c | w << n2 + 1 - c) & (2 << n2) - 1;
      res = r & m;
      cout = r >>> n2;
    }
    rotated(f, res, 0, cout, (a >>> n2 - 1 ^ cin) & 1);
  }
}
function shifted(f, size, lo, hi, c, o) {
  f.bits = f.bits & ~(1 | 16 | 2048) | c | o << 11;
  f.op = 9;
  f.size = size;
  f.resLo = lo;
  f.resHi = hi;
}
function shld(f, size, aLo, aHi, bLo, bHi, count) {
  const c = count & (size === 8 ? 63 : 31);
  if (c === 0) {
    keep(f, size, aLo, aHi);
    return;
  }
  if (size === 8) {
    shl64(aLo, aHi, c);
    const lo = tLo;
    const hi = tHi;
    shr64(bLo, bHi, 64 - c);
    shifted(f, 8, lo | tLo, hi | tHi, bit64(aLo, aHi, 64 - c), (aHi >>> 31 ^ aHi >>> 30) & 1);
  } else if (size === 4) {
    const o = (aLo >>> 31 ^ aLo >>> 30) & 1;
    shifted(f, 4, aLo << c | bLo >>> 32 - c, 0, aLo >>> 32 - c & 1, o);
  } else {
    const a = aLo & 65535;
    const b = bLo & 65535;
    const o = (a >>> 15 ^ a >>> 14) & 1;
    if (c <= 16) shifted(f, 2, (a << c | b >>> 16 - c) & 65535, 0, a >>> 16 - c & 1, o);
    else shifted(f, 2, (b << c - 16 | a >>> 32 - c) & 65535, 0, b >>> 32 - c & 1, o);
  }
}
function shrd(f, size, aLo, aHi, bLo, bHi, count) {
  const c = count & (size === 8 ? 63 : 31);
  if (c === 0) {
    keep(f, size, aLo, aHi);
    return;
  }
  if (size === 8) {
    shr64(aLo, aHi, c);
    const lo = tLo;
    const hi = tHi;
    shl64(bLo, bHi, 64 - c);
    shifted(f, 8, lo | tLo, hi | tHi, bit64(aLo, aHi, c - 1), (aHi >>> 31 ^ bLo) & 1);
  } else if (size === 4) {
    const o = (aLo >>> 31 ^ bLo) & 1;
    shifted(f, 4, aLo >>> c | bLo << 32 - c, 0, aLo >>> c - 1 & 1, o);
  } else {
    const a = aLo & 65535;
    const b = bLo & 65535;
    const o = (a >>> 15 ^ b) & 1;
    if (c <= 16) shifted(f, 2, (a >>> c | b << 16 - c) & 65535, 0, a >>> c - 1 & 1, o);
    else shifted(f, 2, (b >>> c - 16 | a << 32 - c) & 65535, 0, b >>> c - 17 & 1, o);
  }
}
function bitTest(f, size, aLo, aHi, bit, op) {
  materialise(f);
  const i = bit & (size << 3) - 1;
  let lo = aLo & lowMask(size);
  let hi = size === 8 ? aHi | 0 : 0;
  let c;
  if (i < 32) {
    const m = 1 << i;
    c = lo >>> i & 1;
    lo = op === 0 ? lo : op === 1 ? lo | m : op === 2 ? lo & ~m : lo ^ m;
  } else {
    const m = 1 << i - 32;
    c = hi >>> i - 32 & 1;
    hi = op === 0 ? hi : op === 1 ? hi | m : op === 2 ? hi & ~m : hi ^ m;
  }
  f.bits = f.bits & ~1 | c;
  f.resLo = lo;
  f.resHi = hi;
}
function bt(f, size, aLo, aHi, bit) {
  bitTest(f, size, aLo, aHi, bit, 0);
}
function bts(f, size, aLo, aHi, bit) {
  bitTest(f, size, aLo, aHi, bit, 1);
}
function btr(f, size, aLo, aHi, bit) {
  bitTest(f, size, aLo, aHi, bit, 2);
}
function btc(f, size, aLo, aHi, bit) {
  bitTest(f, size, aLo, aHi, bit, 3);
}
function scanned(f, zero, idx) {
  f.bits = f.bits & ~RFLAGS_ARITH | (zero ? 64 | 4 : parity(idx) ? 4 : 0);
  f.op = 0;
}
function bsf(f, size, aLo, aHi) {
  const lo = aLo & lowMask(size);
  const hi = size === 8 ? aHi | 0 : 0;
  if ((lo | hi) === 0) {
    scanned(f, true, 0);
    return false;
  }
  const idx = lo !== 0 ? 31 - Math.clz32(lo & -lo) : 63 - Math.clz32(hi & -hi);
  scanned(f, false, idx);
  f.resLo = idx;
  f.resHi = 0;
  return true;
}
function bsr(f, size, aLo, aHi) {
  const lo = aLo & lowMask(size);
  const hi = size === 8 ? aHi | 0 : 0;
  if ((lo | hi) === 0) {
    scanned(f, true, 0);
    return false;
  }
  const idx = hi !== 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(lo);
  scanned(f, false, idx);
  f.resLo = idx;
  f.resHi = 0;
  return true;
}
var mLo = 0;
var mHi = 0;
function mul32(a, b) {
  const a0 = a & 65535;
  const a1 = a >>> 16;
  const b0 = b & 65535;
  const b1 = b >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 65535) + (p10 & 65535);
  mLo = mid << 16 | p00 & 65535;
  mHi = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16) | 0;
}
function signed32(a, b) {
  mul32(a, b);
  if (a < 0) mHi = mHi - b | 0;
  if (b < 0) mHi = mHi - a | 0;
}
var w0 = 0;
var w1 = 0;
var w2 = 0;
var w3 = 0;
function mul64(aLo, aHi, bLo, bHi) {
  mul32(aLo, bLo);
  w0 = mLo;
  let s1 = mHi >>> 0;
  mul32(aLo, bHi);
  s1 += mLo >>> 0;
  let s2 = mHi >>> 0;
  mul32(aHi, bLo);
  s1 += mLo >>> 0;
  s2 += mHi >>> 0;
  mul32(aHi, bHi);
  s2 += mLo >>> 0;
  const s3 = mHi >>> 0;
  w1 = s1 | 0;
  s2 += Math.floor(s1 / 4294967296);
  w2 = s2 | 0;
  w3 = s3 + Math.floor(s2 / 4294967296) | 0;
}
function multiplied(f, size, lo, hi, overflow) {
  f.bits = f.bits & ~(1 | 64 | 16 | 2048) | (overflow ? 1 | 2048 : 0);
  f.op = 10;
  f.size = size;
  f.resLo = lo;
  f.resHi = hi;
}
function mul(f, size, aLo, aHi, bLo, bHi) {
  if (size === 8) {
    if ((aHi | bHi) === 0) {
      mul32(aLo | 0, bLo | 0);
      f.hiLo = 0;
      f.hiHi = 0;
      multiplied(f, 8, mLo, mHi, false);
      return;
    }
    mul64(aLo | 0, aHi | 0, bLo | 0, bHi | 0);
    f.hiLo = w2;
    f.hiHi = w3;
    multiplied(f, 8, w0, w1, (w2 | w3) !== 0);
  } else if (size === 4) {
    mul32(aLo | 0, bLo | 0);
    f.hiLo = mHi;
    f.hiHi = 0;
    multiplied(f, 4, mLo, 0, mHi !== 0);
  } else {
    const n2 = size << 3;
    const m = lowMask(size);
    const p2 = (aLo & m) * (bLo & m);
    const hi = p2 >>> n2;
    f.hiLo = hi;
    f.hiHi = 0;
    multiplied(f, size, p2 & m, 0, hi !== 0);
  }
}
function signedProduct(f, size, aLo, aHi, bLo, bHi) {
  aLo |= 0;
  aHi |= 0;
  bLo |= 0;
  bHi |= 0;
  if (size === 8 && aHi === aLo >> 31 && bHi === bLo >> 31) {
    signed32(aLo, bLo);
    const ext = mHi >> 31;
    f.hiLo = ext;
    f.hiHi = ext;
    multiplied(f, 8, mLo, mHi, false);
  } else if (size === 8) {
    mul64(aLo, aHi, bLo, bHi);
    let lo = w2;
    let hi = w3;
    if (aHi >>> 31) {
      hi = hi - bHi - (lo >>> 0 < bLo >>> 0 ? 1 : 0) | 0;
      lo = lo - bLo | 0;
    }
    if (bHi >>> 31) {
      hi = hi - aHi - (lo >>> 0 < aLo >>> 0 ? 1 : 0) | 0;
      lo = lo - aLo | 0;
    }
    const ext = w1 >> 31;
    f.hiLo = lo;
    f.hiHi = hi;
    multiplied(f, 8, w0, w1, lo !== ext || hi !== ext);
  } else if (size === 4) {
    signed32(aLo, bLo);
    f.hiLo = mHi;
    f.hiHi = 0;
    multiplied(f, 4, mLo, 0, mHi !== mLo >> 31);
  } else {
    const sh = 32 - (size << 3);
    const p2 = (aLo << sh >> sh) * (bLo << sh >> sh);
    const m = lowMask(size);
    f.hiLo = p2 >> (size << 3) & m;
    f.hiHi = 0;
    multiplied(f, size, p2 & m, 0, p2 !== p2 << sh >> sh);
  }
}
function imul1(f, size, aLo, aHi, bLo, bHi) {
  signedProduct(f, size, aLo, aHi, bLo, bHi);
}
function imul2(f, size, aLo, aHi, bLo, bHi) {
  if (size === 8) {
    aLo |= 0;
    bLo |= 0;
    if ((aHi | 0) === aLo >> 31 && (bHi | 0) === bLo >> 31) {
      const a0 = aLo & 65535;
      const a1 = aLo >>> 16;
      const b0 = bLo & 65535;
      const b1 = bLo >>> 16;
      const p00 = a0 * b0;
      const p01 = a0 * b1;
      const p10 = a1 * b0;
      const mid = (p00 >>> 16) + (p01 & 65535) + (p10 & 65535);
      let hi = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16) | 0;
      if (aLo < 0) hi = hi - bLo | 0;
      if (bLo < 0) hi = hi - aLo | 0;
      multiplied(f, 8, mid << 16 | p00 & 65535, hi, false);
      return;
    }
    signedProduct(f, 8, aLo, aHi, bLo, bHi);
  } else if (size === 4) {
    const p2 = (aLo | 0) * (bLo | 0);
    multiplied(f, 4, Math.imul(aLo, bLo), 0, p2 > 2147483647 || p2 < -2147483648);
  } else signedProduct(f, size, aLo, aHi, bLo, bHi);
}
var qLo = 0;
var qHi = 0;
var rLo = 0;
var rHi = 0;
function div64by32(hi, lo, d) {
  let t = hi * 65536 + (lo >>> 16);
  const q1 = Math.floor(t / d);
  t = (t - q1 * d) * 65536 + (lo & 65535);
  const q0 = Math.floor(t / d);
  qLo = q1 * 65536 + q0 | 0;
  rLo = t - q0 * d | 0;
}
function divu128(n0, n1, n2, n3, dLo, dHi) {
  if (dLo === 0 && dHi === 0) return false;
  if (n3 > dHi || n3 === dHi && n2 >= dLo) return false;
  if (dHi === 0) {
    if (n2 === 0 && n1 < 1048576) {
      const n5 = n1 * 4294967296 + n0;
      const q2 = Math.floor(n5 / dLo);
      const r2 = n5 - q2 * dLo;
      qLo = q2 | 0;
      qHi = Math.floor(q2 / 4294967296) | 0;
      rLo = r2 | 0;
      rHi = 0;
      return true;
    }
    div64by32(n2, n1, dLo);
    qHi = qLo;
    div64by32(rLo >>> 0, n0, dLo);
    rHi = 0;
    return true;
  }
  if ((n2 | n3) === 0) {
    div64by64(n0, n1, dLo, dHi);
    return true;
  }
  const n4 = BigInt(n3) << 96n | BigInt(n2) << 64n | BigInt(n1) << 32n | BigInt(n0);
  const d = BigInt(dHi) << 32n | BigInt(dLo);
  const q = n4 / d;
  const r = n4 - q * d;
  qLo = Number(q & 0xffffffffn) | 0;
  qHi = Number(q >> 32n) | 0;
  rLo = Number(r & 0xffffffffn) | 0;
  rHi = Number(r >> 32n) | 0;
  return true;
}
function div64by64(n0, n1, dLo, dHi) {
  let q = Math.floor((n1 * 4294967296 + n0) / (dHi * 4294967296 + dLo));
  if (q > 4294967295) q = 4294967295;
  mul32(q | 0, dLo | 0);
  const p0 = mLo >>> 0;
  const p1 = mHi >>> 0;
  mul32(q | 0, dHi | 0);
  let x0 = n0 - p0;
  let x1 = n1 - p1 - (mLo >>> 0);
  if (x0 < 0) {
    x0 += 4294967296;
    x1--;
  }
  let top = -(mHi >>> 0);
  while (x1 < 0) {
    x1 += 4294967296;
    top--;
  }
  while (top < 0) {
    q--;
    x0 += dLo;
    if (x0 >= 4294967296) {
      x0 -= 4294967296;
      x1++;
    }
    x1 += dHi;
    if (x1 >= 4294967296) {
      x1 -= 4294967296;
      top++;
    }
  }
  while (x1 > dHi || x1 === dHi && x0 >= dLo) {
    q++;
    x0 -= dLo;
    if (x0 < 0) {
      x0 += 4294967296;
      x1--;
    }
    x1 -= dHi;
  }
  qLo = q | 0;
  qHi = 0;
  rLo = x0 | 0;
  rHi = x1 | 0;
}
function divided(f, quoLo, quoHi, remLo, remHi) {
  materialise(f);
  f.resLo = quoLo;
  f.resHi = quoHi;
  f.hiLo = remLo;
  f.hiHi = remHi;
  return true;
}
function div(f, size, nLo0, nHi0, nLo1, nHi1, dLo, dHi) {
  if (size === 8) {
    if (!divu128(nLo0 >>> 0, nHi0 >>> 0, nLo1 >>> 0, nHi1 >>> 0, dLo >>> 0, dHi >>> 0)) return false;
    return divided(f, qLo, qHi, rLo, rHi);
  }
  if (size === 4) {
    const hi = nLo1 >>> 0;
    const d2 = dLo >>> 0;
    if (d2 === 0 || hi >= d2) return false;
    div64by32(hi, nLo0 >>> 0, d2);
    return divided(f, qLo, 0, rLo, 0);
  }
  const m = lowMask(size);
  const d = dLo & m;
  if (d === 0) return false;
  const x = (nLo1 & m) * (m + 1) + (nLo0 & m);
  const q = Math.floor(x / d);
  if (q > m) return false;
  return divided(f, q, 0, x - q * d, 0);
}
function idiv(f, size, nLo0, nHi0, nLo1, nHi1, dLo, dHi) {
  if (size === 8) {
    let n0 = nLo0 >>> 0;
    let n1 = nHi0 >>> 0;
    let n22 = nLo1 >>> 0;
    let n3 = nHi1 >>> 0;
    let d0 = dLo >>> 0;
    let d1 = dHi >>> 0;
    const nNeg = n3 >>> 31;
    const dNeg = d1 >>> 31;
    if (nNeg) {
      n0 = ~n0 + 1 >>> 0;
      let c = n0 === 0 ? 1 : 0;
      n1 = ~n1 + c >>> 0;
      c = c && n1 === 0 ? 1 : 0;
      n22 = ~n22 + c >>> 0;
      c = c && n22 === 0 ? 1 : 0;
      n3 = ~n3 + c >>> 0;
    }
    if (dNeg) {
      d0 = ~d0 + 1 >>> 0;
      d1 = ~d1 + (d0 === 0 ? 1 : 0) >>> 0;
    }
    if (!divu128(n0, n1, n22, n3, d0, d1)) return false;
    const qNeg = nNeg ^ dNeg;
    const qh = qHi >>> 0;
    if (qh > 2147483648 || qh === 2147483648 && (qLo !== 0 || !qNeg)) return false;
    let ql = qLo;
    let qhs = qHi;
    if (qNeg) {
      qhs = ~qhs + (ql === 0 ? 1 : 0) | 0;
      ql = -ql | 0;
    }
    let rl = rLo;
    let rh = rHi;
    if (nNeg) {
      rh = ~rh + (rl === 0 ? 1 : 0) | 0;
      rl = -rl | 0;
    }
    return divided(f, ql, qhs, rl, rh);
  }
  if (size === 4) {
    let lo = nLo0 >>> 0;
    let hi = nLo1 >>> 0;
    const nNeg = hi >>> 31;
    if (nNeg) {
      lo = -lo >>> 0;
      hi = ~hi + (lo === 0 ? 1 : 0) >>> 0;
    }
    const ds = dLo | 0;
    const d2 = Math.abs(ds);
    if (d2 === 0 || hi >= d2) return false;
    div64by32(hi, lo, d2);
    const qNeg = nNeg ^ (ds < 0 ? 1 : 0);
    const q2 = qLo >>> 0;
    if (q2 > (qNeg ? 2147483648 : 2147483647)) return false;
    return divided(f, qNeg ? -q2 | 0 : q2 | 0, 0, nNeg ? -rLo | 0 : rLo, 0);
  }
  const n2 = size << 3;
  const sh = 32 - n2;
  const m = lowMask(size);
  const d = dLo << sh >> sh;
  if (d === 0) return false;
  const x = size === 2 ? nLo1 << 16 | nLo0 & 65535 : (nLo1 << 8 | nLo0 & 255) << 16 >> 16;
  const q = Math.trunc(x / d);
  const lim = 1 << n2 - 1;
  if (q >= lim || q < -lim) return false;
  return divided(f, q & m, 0, x - q * d & m, 0);
}
function adjusted(f, al, c, a) {
  f.bits = f.bits & ~RFLAGS_ARITH | c | (a ? 16 : 0) | (parity(al) ? 4 : 0) | (al === 0 ? 64 : 0) | al & 128;
  f.op = 0;
}
function daa(f, al) {
  const c0 = cf(f) ? 1 : 0;
  const a0 = af(f);
  const old = al & 255;
  let r = old;
  let c = 0;
  let a = 0;
  if ((old & 15) > 9 || a0) {
    r = r + 6 & 255;
    a = 1;
  }
  if (old > 153 || c0) {
    r = r + 96 & 255;
    c = 1;
  }
  adjusted(f, r, c, a);
  f.resLo = r;
  f.resHi = 0;
}
function das(f, al) {
  const c0 = cf(f) ? 1 : 0;
  const a0 = af(f);
  const old = al & 255;
  let r = old;
  let c = 0;
  let a = 0;
  if ((old & 15) > 9 || a0) {
    c = c0 | (old < 6 ? 1 : 0);
    r = r - 6 & 255;
    a = 1;
  }
  if (old > 153 || c0) {
    r = r - 96 & 255;
    c = 1;
  }
  adjusted(f, r, c, a);
  f.resLo = r;
  f.resHi = 0;
}
function aaa(f, ax) {
  const adj = (ax & 15) > 9 || af(f) ? 1 : 0;
  const r = (adj ? ax + 262 : ax) & 65295;
  adjusted(f, r & 255, adj, adj);
  f.resLo = r;
  f.resHi = 0;
}
function aas(f, ax) {
  const adj = (ax & 15) > 9 || af(f) ? 1 : 0;
  const r = (adj ? ax - 262 : ax) & 65295;
  adjusted(f, r & 255, adj, adj);
  f.resLo = r;
  f.resHi = 0;
}
function aam(f, al, imm8) {
  const b = imm8 & 255;
  if (b === 0) return false;
  const x = al & 255;
  const lo = x % b;
  adjusted(f, lo, 0, 0);
  f.resLo = (x - lo) / b << 8 | lo;
  f.resHi = 0;
  return true;
}
function aad(f, ax, imm8) {
  const r = (ax & 255) + (ax >>> 8 & 255) * (imm8 & 255) & 255;
  adjusted(f, r, 0, 0);
  f.resLo = r;
  f.resHi = 0;
}

// src/cpu/backend.ts
const PFERR_PRESENT_MASK = 1;
const PFERR_WRITE_MASK = 2;
const PFERR_USER_MASK = 4;
const PFERR_RSVD_MASK = 8;
const PFERR_FETCH_MASK = 16;
const PFERR_GUEST_FINAL_HI = 1;
const NPT_OK = 0;
const NPT_FAULT = 1;
const NPT_MMIO = 2;
const NPT_READONLY = 3;

// src/guest/result.ts
const MASK32 = 0xffffffffn;
const EVT_VALID = BigInt(2147483648);
const EVT_VALID_ERR = BigInt(SVM_EVTINJ_VALID_ERR);
const EVT_TYPE_MASK = BigInt(SVM_EVTINJ_TYPE_MASK);
const EVT_TYPE_EXEPT = BigInt(SVM_EVTINJ_TYPE_EXEPT);
const EVT_VEC_MASK = BigInt(255);
function verifyExceptionInfo(info1, info2) {
  const code = info1 & MASK32;
  if (code === 0n) return { kind: "ok", info1, info2 };
  if (code === 1n) {
    const vector = Number(info2 & EVT_VEC_MASK);
    if ((info2 & EVT_VALID) !== 0n && (vector === 13 || vector === 6) && (info2 & EVT_TYPE_MASK) === EVT_TYPE_EXEPT) {
      return (info2 & EVT_VALID_ERR) !== 0n ? { kind: "exception", vector, errorCode: Number(info2 >> 32n & MASK32), info1, info2 } : { kind: "exception", vector, info1, info2 };
    }
  } else if (code === 2n) {
    return { kind: "reflected", error: Number(info2 & MASK32), info1, info2 };
  }
  return { kind: "vmm-error", info1, info2 };
}

// src/guest/ghcb-codec.ts
assertLittleEndianHost("the GHCB codec needs a little-endian host");
const TWO323 = 4294967296;
const W_EXIT = 912 / 4;
const W_INFO_1 = 920 / 4;
const W_INFO_2 = 928 / 4;
const W_BITMAP = 1008 / 4;
const RESULT_OK_0 = Object.freeze({ kind: "ok", info1: 0n, info2: 0n });
const GhcbCodec = class {
  bytes;
  view;
  /** The page as 32-bit words: `bytes` must be 4-byte aligned. */
  words;
  constructor(bytes) {
    if (bytes.length !== 4096) throw new RangeError(`a GHCB is ${4096} bytes, not ${bytes.length}`);
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, 4096);
    this.words = new Uint32Array(bytes.buffer, bytes.byteOffset, 4096 / 4);
  }
  /** vc_ghcb_invalidate: sw_exit_code and the whole valid bitmap cleared. */
  invalidate() {
    const w = this.words;
    w[W_EXIT] = 0;
    w[W_EXIT + 1] = 0;
    w[W_BITMAP] = 0;
    w[W_BITMAP + 1] = 0;
    w[W_BITMAP + 2] = 0;
    w[W_BITMAP + 3] = 0;
  }
  /** ghcb_set_<field>: the u64 at `offset` (the u8 cpl at GHCB_OFF_CPL) and its valid bit. */
  set(offset, value) {
    if (offset === 203) this.bytes[offset] = Number(value & 0xffn);
    else this.view.setBigUint64(offset, value, true);
    this.setValid(offset);
  }
  /** `set` for a u64 field (not cpl) and a value in [0, 2^53), without a BigInt. */
  setNumber(offset, value) {
    const w = this.words;
    w[offset >> 2] = value;
    w[(offset >> 2) + 1] = value / 4294967296;
    this.setValid(offset);
  }
  /** ghcb_set_cpl. */
  setCpl(cpl) {
    this.bytes[203] = cpl;
    this.setValid(203);
  }
  /** ghcb_set_sw_exit_code / _info_1 / _info_2, each marked valid (values in [0, 2^53)). */
  setSwExit(code, info1, info2) {
    this.setNumber(912, code);
    this.setNumber(920, info1);
    this.setNumber(928, info2);
  }
  /** Bytes outside the save-area fields, e.g. scratch data in the shared buffer (no valid bit). */
  setBytes(offset, data) {
    this.bytes.set(data, offset);
  }
  /** Set the valid bit of the field at `offset`. */
  setValid(offset) {
    this.words[W_BITMAP + (offset >> 8)] |= 1 << (offset >> 3 & 31);
  }
  /** Set or clear bit `idx` of valid_bitmap. */
  setValidBit(idx, on) {
    const w = this.words;
    const i = W_BITMAP + (idx >> 5);
    w[i] = on ? w[i] | 1 << (idx & 31) : w[i] & ~(1 << (idx & 31));
  }
  /** ghcb_<field>_is_valid. */
  isValid(offset) {
    return (this.words[W_BITMAP + (offset >> 8)] >>> (offset >> 3 & 31) & 1) !== 0;
  }
  /** The u64 field at `offset` (the u8 cpl at GHCB_OFF_CPL), whatever its valid bit. */
  get(offset) {
    if (offset === 203) return BigInt(this.bytes[offset]);
    return this.view.getBigUint64(offset, true);
  }
  /** The low 32 bits of the field at `offset` (EAX of RAX...). */
  getU32(offset) {
    return this.words[offset >> 2];
  }
  /** EDX:EAX from the low halves of RDX and RAX (RDMSR, RDTSC...). */
  getEdxEax() {
    return BigInt(this.getU32(784)) << 32n | BigInt(this.getU32(504));
  }
  /** protocol_version and ghcb_usage, which sev_es_ghcb_hv_call writes before every VMGEXIT. */
  setHeader(version, usage) {
    this.view.setUint16(4090, version, true);
    this.words[4092 >> 2] = usage;
  }
  /** The hypervisor's answer in sw_exit_info_1/2, classified as Linux's verify_exception_info does. */
  result() {
    const w = this.words;
    return (w[W_INFO_1] | w[W_INFO_1 + 1] | w[W_INFO_2] | w[W_INFO_2 + 1]) === 0 ? RESULT_OK_0 : this.#verify();
  }
  #verify() {
    return verifyExceptionInfo(this.get(920), this.get(928));
  }
};

// src/guest/guest-access.ts
const GuestAccess = class {
  constructor(cpu) {
    this.cpu = cpu;
  }
  cpu;
  #busy = false;
  #qword = new Uint8Array(8);
  #qwordView = new DataView(this.#qword.buffer);
  /**
   * True while a trapping access is in progress. A #VC raised there must not re-enter the client:
   * Linux would need its backup GHCB, which is not modelled.
   */
  get busy() {
    return this.#busy;
  }
  /** Throw if a #VC raised by one of this client's trapping accesses tries to start a request. */
  checkIdle() {
    if (this.#busy) throw new Error("GHCB client re-entered during a trapping access (nested #VC)");
  }
  /** Store `src` at `gpa`: one NPT access when it is RAM, else trapping stores. */
  *write(gpa, src) {
    if (this.cpu.mem.write(gpa, src) !== 0) yield* this.#trapping(this.#storePieces(gpa, src));
  }
  /** Load `dst.length` bytes at `gpa`: one NPT access when it is RAM, else trapping loads. */
  *read(gpa, dst) {
    if (this.cpu.mem.read(gpa, dst) !== 0) yield* this.#trapping(this.#loadPieces(gpa, dst));
  }
  *#trapping(accesses) {
    this.checkIdle();
    this.#busy = true;
    try {
      yield* accesses;
    } finally {
      this.#busy = false;
    }
  }
  /**
   * A trapping store of the first (up to 8-byte) piece, which exits to KVM until the page is there
   * (or raises #VC for MMIO), then the rest in one go if it is RAM now, else the next piece.
   */
  *#storePieces(gpa, src) {
    const cpu = this.cpu;
    let off = 0;
    while (off < src.length) {
      const n2 = pieceSize(src.length - off);
      const q = this.#qword;
      q.fill(0);
      q.set(src.subarray(off, off + n2));
      yield* cpu.store(gpa + off, n2, this.#qwordView.getBigUint64(0, true));
      off += n2;
      if (off < src.length && cpu.mem.write(gpa + off, src.subarray(off)) === 0) return;
    }
  }
  /** Trapping loads piece by piece until the rest is RAM again. */
  *#loadPieces(gpa, dst) {
    const cpu = this.cpu;
    let off = 0;
    while (off < dst.length) {
      const n2 = pieceSize(dst.length - off);
      const value = yield* cpu.load(gpa + off, n2);
      this.#qwordView.setBigUint64(0, value, true);
      dst.set(this.#qword.subarray(0, n2), off);
      off += n2;
      if (off < dst.length && cpu.mem.read(gpa + off, dst.subarray(off)) === 0) return;
    }
  }
};
function pieceSize(remaining) {
  return remaining >= 8 ? 8 : remaining >= 4 ? 4 : remaining >= 2 ? 2 : 1;
}

// src/guest/ghcb-transport.ts
const SAVE_END = 1008 + 16;
const ANSWER = [
  504,
  8,
  776,
  24,
  920,
  16,
  1008,
  16
];
const StagedGhcb = class extends GhcbCodec {
  /** Bit q: the qword at 8q, for q < SAVE_END / 8. */
  #qwords = new Uint32Array(SAVE_END / 8 / 32);
  #bufLo = 4096;
  #bufHi = 0;
  #header = false;
  /** The whole page: the first request, as a kernel zeroes its GHCB before use. */
  #whole = false;
  constructor() {
    super(new Uint8Array(4096));
  }
  /** Start a request: nothing stored yet; `zeroed`: the page is to be zeroed first. */
  start(zeroed) {
    this.#qwords.fill(0);
    this.#bufLo = 4096;
    this.#bufHi = 0;
    this.#header = false;
    this.#whole = zeroed;
    if (zeroed) this.bytes.fill(0);
  }
  invalidate() {
    super.invalidate();
    this.#stored(912, 912 + 8);
    this.#stored(1008, SAVE_END);
  }
  set(offset, value) {
    super.set(offset, value);
    this.#stored(offset, offset + (offset === 203 ? 1 : 8));
  }
  setNumber(offset, value) {
    super.setNumber(offset, value);
    this.#stored(offset, offset + 8);
  }
  setCpl(cpl) {
    super.setCpl(cpl);
    this.#stored(203, 203 + 1);
  }
  setBytes(offset, data) {
    super.setBytes(offset, data);
    this.#stored(offset, offset + data.length);
  }
  setValid(offset) {
    super.setValid(offset);
    this.#stored(1008, SAVE_END);
  }
  setValidBit(idx, on) {
    super.setValidBit(idx, on);
    this.#stored(1008, SAVE_END);
  }
  setHeader(version, usage) {
    super.setHeader(version, usage);
    this.#header = true;
  }
  /**
   * The stores of the request as [offset, length] pairs, in address order: runs of stored qwords,
   * the bytes past the valid bitmap, then the protocol_version/ghcb_usage tail (or the whole page).
   */
  stores() {
    if (this.#whole) return [0, 4096];
    const out = [];
    const q = this.#qwords;
    let start = -1;
    for (let i = 0; i <= SAVE_END / 8; i++) {
      const on = i < SAVE_END / 8 && (q[i >> 5] & 1 << (i & 31)) !== 0;
      if (on && start < 0) start = i;
      if (!on && start >= 0) {
        out.push(start * 8, (i - start) * 8);
        start = -1;
      }
    }
    if (this.#bufHi > this.#bufLo) out.push(this.#bufLo, this.#bufHi - this.#bufLo);
    if (this.#header) out.push(4090, 4096 - 4090);
    return out;
  }
  #stored(lo, hi) {
    const q = this.#qwords;
    for (let i = lo >> 3; i < Math.min(hi, SAVE_END) + 7 >> 3; i++) q[i >> 5] |= 1 << (i & 31);
    if (hi > SAVE_END) {
      this.#bufLo = Math.min(this.#bufLo, Math.max(lo, SAVE_END));
      this.#bufHi = Math.max(this.#bufHi, hi);
    }
  }
};
const GhcbTransport = class {
  /** The guest's loads and stores, with the trapping fallback. */
  access;
  /** protocol_version and ghcb_usage, written with every request. */
  version;
  usage = 0;
  /** The GHCB GPA as the two halves WRMSR writes to the GHCB MSR (EAX, EDX). */
  gpaLo;
  gpaHi;
  #cpu;
  #gpa;
  #staging = new StagedGhcb();
  /** Where the current request is built, or the last answer was read. */
  #codec = this.#staging;
  /** The codec of the last page view the TLB gave (one per view, not per request). */
  #pageCodec = this.#staging;
  /** A request has started and not been sent. */
  #building = false;
  /** No request yet: the first one zeroes the page, as a kernel zeroes its GHCB before use. */
  #fresh = true;
  /** The page view #page handed out last, under which NPT generation, and whether for writing. */
  #pageView;
  #pageGen = -1;
  #pageWritable = false;
  /** The staged stores of the request being sent. */
  #stores = [];
  constructor(cpu, ghcbGpa, version) {
    this.#cpu = cpu;
    this.version = version;
    this.#gpa = ghcbGpa;
    this.gpaLo = ghcbGpa >>> 0;
    this.gpaHi = Math.floor(ghcbGpa / 4294967296);
    this.access = new GuestAccess(cpu);
  }
  /** Register the GHCB: its GPA into the GHCB MSR (WRMSR; SEV-ES has no REG_GPA request). */
  register() {
    this.#cpu.setGhcbMsr(this.gpaLo, this.gpaHi);
  }
  /** The bytes of the request being built, or of the last answer. */
  get codec() {
    return this.#codec;
  }
  /**
   * Start a request as every one starts, with vc_ghcb_invalidate: in the page if the TLB maps it
   * for writing, else in the staging buffer.
   */
  begin() {
    const g = this.#open();
    g.invalidate();
    return g;
  }
  /** The request being built; when none is, a new one holding what the page holds (no invalidate). */
  building() {
    return this.#building ? this.#codec : this.#open();
  }
  #open() {
    this.access.checkIdle();
    this.#building = true;
    const g = this.#codecOf(this.#page(true));
    if (!g || this.#fresh) return this.#openSlow(g);
    this.#codec = g;
    return g;
  }
  /** #open's rarer cases: the first request (the page is zeroed), or the page is not RAM. */
  #openSlow(g) {
    const fresh = this.#fresh;
    this.#fresh = false;
    if (g) {
      if (fresh) g.bytes.fill(0);
      this.#codec = g;
      return g;
    }
    this.#staging.start(fresh);
    this.#codec = this.#staging;
    return this.#staging;
  }
  /**
   * Before VMGEXIT: protocol_version and ghcb_usage into the request being built, the GHCB GPA
   * into the GHCB MSR, and a staged request's stores to the page. False when the page is not RAM
   * right now: finish with sendSlow.
   */
  send() {
    const g = this.#codec;
    this.#building = false;
    g.setHeader(this.version, this.usage);
    this.#cpu.setGhcbMsr(this.gpaLo, this.gpaHi);
    return g !== this.#staging || this.#sendStaged();
  }
  #sendStaged() {
    const stores = this.#staging.stores();
    this.#stores = stores;
    const mem = this.#cpu.mem;
    const bytes = this.#staging.bytes;
    for (let i = 0; i < stores.length; i += 2) {
      const off = stores[i];
      if (mem.write(this.#gpa + off, bytes.subarray(off, off + stores[i + 1])) !== 0) return false;
    }
    return true;
  }
  /**
   * The staged stores again, each as one access or, where the page is not RAM, trapping stores
   * (the vCPU exits with NPF until KVM can map the page). Storing again what went through is
   * harmless.
   */
  *sendSlow() {
    const stores = this.#stores;
    const bytes = this.#staging.bytes;
    for (let i = 0; i < stores.length; i += 2) {
      const off = stores[i];
      yield* this.access.write(this.#gpa + off, bytes.subarray(off, off + stores[i + 1]));
    }
    this.#cpu.setGhcbMsr(this.gpaLo, this.gpaHi);
  }
  /**
   * After VMGEXIT: the answer is read from the page if the TLB maps it; else the answer fields,
   * the valid bitmap and [inLo, inHi) (incoming scratch data) are loaded into the staging buffer.
   * False when the page is not RAM right now: finish with receiveSlow.
   */
  receive(inLo, inHi) {
    const g = this.#codecOf(this.#page(false));
    if (!g) return this.#receiveStaged(inLo, inHi);
    this.#codec = g;
    return true;
  }
  #receiveStaged(inLo, inHi) {
    const mem = this.#cpu.mem;
    const bytes = this.#staging.bytes;
    this.#codec = this.#staging;
    for (let i = 0; i < ANSWER.length; i += 2) {
      const off = ANSWER[i];
      if (mem.read(this.#gpa + off, bytes.subarray(off, off + ANSWER[i + 1])) !== 0) return false;
    }
    return !(inHi > inLo && mem.read(this.#gpa + inLo, bytes.subarray(inLo, inHi)) !== 0);
  }
  /** receive's loads again, each as one access or, where the page is not RAM, trapping loads. */
  *receiveSlow(inLo, inHi) {
    const bytes = this.#staging.bytes;
    for (let i = 0; i < ANSWER.length; i += 2) {
      const off = ANSWER[i];
      yield* this.access.read(this.#gpa + off, bytes.subarray(off, off + ANSWER[i + 1]));
    }
    if (inHi > inLo) yield* this.access.read(this.#gpa + inLo, bytes.subarray(inLo, inHi));
  }
  /**
   * The request being built, sent and answered (the memory half of sev_es_ghcb_hv_call): send
   * (sendSlow when the page is not RAM), VMGEXIT, receive (receiveSlow likewise), then the answer
   * in sw_exit_info_1/2. [inLo, inHi): incoming scratch data in the page. `from`: the rest of an
   * exchange whose `send` ('send-failed') or `receive` ('receive-failed') has run and returned false.
   */
  *exchange(inLo, inHi, from = "start") {
    if (from !== "receive-failed") {
      if (from === "send-failed" || !this.send()) yield* this.sendSlow();
      yield VMGEXIT_OP;
      if (this.receive(inLo, inHi)) return this.#codec.result();
    }
    yield* this.receiveSlow(inLo, inHi);
    return this.#codec.result();
  }
  /**
   * The GHCB page as the guest's TLB maps it for a read or a write: asked again after the nested
   * page table changed (its generation), else the view of the last request (a TLB hit).
   */
  #page(write) {
    const mem = this.#cpu.mem;
    const gen = mem.generation;
    if (gen !== void 0 && gen === this.#pageGen && (this.#pageWritable || !write)) return this.#pageView;
    const v = mem.page?.(this.#gpa, write);
    this.#pageGen = v ? gen ?? -1 : -1;
    this.#pageView = v;
    this.#pageWritable = write;
    return v;
  }
  /** The codec over a page view (kept while the TLB hands out the same view); undefined for none. */
  #codecOf(page) {
    const c = this.#pageCodec;
    return c.bytes === page ? c : this.#newCodec(page);
  }
  /** A codec for a new page view; undefined when there is none or it is not word aligned. */
  #newCodec(page) {
    if (page === void 0 || page.byteOffset % 4 !== 0) return void 0;
    const c = new GhcbCodec(page);
    this.#pageCodec = c;
    return c;
  }
};

// src/guest/ghcb-client.ts
const SCRATCH_IN_GHCB = Object.freeze({ in: "ghcb" });
const MASK322 = 0xffffffffn;
const FIELD_OFFSETS = new Map(
  GHCB_FIELDS.filter((f) => f.validBit !== void 0).map((f) => [f.name, f.offset])
);
const SIZE_MASK = [0, 255, 65535, 0, 4294967295];
const NO_DATA = new Uint8Array(0);
function checkSaveAreaOffset(offset) {
  if (offset === 203) return;
  if (!Number.isInteger(offset) || offset < 0 || offset >= 1008 || offset % 8 !== 0) {
    throw new RangeError(`0x${offset.toString(16)} is not a GHCB save-area field with a valid bit`);
  }
}
function checkPageRange(offset, len) {
  if (!Number.isInteger(offset) || !Number.isInteger(len) || offset < 0 || len < 0 || offset + len > 4096) {
    throw new RangeError(`[${offset}, +${len}) is not inside the GHCB page`);
  }
}
function ghcbScratchOffset(scratch2, len) {
  const off = 2048 + (scratch2.offset ?? 0);
  checkPageRange(off, len);
  return off;
}
function fieldList(fields) {
  if (Array.isArray(fields)) {
    const list = fields;
    for (const [offset] of list) checkSaveAreaOffset(offset);
    return list;
  }
  return Object.entries(fields).map(([name, value]) => {
    const offset = FIELD_OFFSETS.get(name);
    if (offset === void 0) throw new RangeError(`unknown GHCB field ${name}`);
    return [offset, value];
  });
}
function elementCount(bytes, size) {
  if (bytes % size !== 0)
    throw new RangeError(`${bytes} bytes is not a whole number of ${size}-byte elements`);
  return bytes / size;
}
const GhcbClient = class {
  /** Guest physical address of the GHCB page (page aligned). */
  ghcbGpa;
  /** The vCPU this client runs on. */
  cpu;
  #tx;
  /** Where the last request's scratch data is: a buffer and an offset into it. */
  #dataBuf = NO_DATA;
  #dataOff = 0;
  /** Incoming scratch data from outside the GHCB lands here. */
  #outside = new Uint8Array(64);
  /**
   * A client for the GHCB at `ghcbGpa`. Its first request zeroes the page, as a guest kernel
   * zeroes its GHCB pages before use.
   */
  constructor(cpu, ghcbGpa, opts = {}) {
    if (!Number.isSafeInteger(ghcbGpa) || ghcbGpa < 0 || ghcbGpa % 4096 !== 0) {
      throw new RangeError(`GHCB GPA ${ghcbGpa} is not a page-aligned guest physical address`);
    }
    this.cpu = cpu;
    this.ghcbGpa = ghcbGpa;
    this.#tx = new GhcbTransport(cpu, ghcbGpa, opts.version ?? 1);
  }
  /**
   * True while the client is in a trapping access to guest memory (its fallback when the GHCB or
   * an outside scratch area is not RAM right now). A #VC raised there must not re-enter the client.
   */
  get busy() {
    return this.#tx.access.busy;
  }
  // ---------------------------------------------------------------- GHCB MSR protocol
  /**
   * One GHCB MSR protocol exchange: write `request` into the GHCB MSR, VMGEXIT, read the response,
   * then put the GHCB GPA back into the MSR (as Linux does before using the GHCB page again).
   * Returns the raw response.
   */
  msrProtocol(request) {
    const tx = this.#tx;
    return msrExchange(this.cpu, request, tx.gpaLo, tx.gpaHi);
  }
  /**
   * SEV_INFO_REQ (Linux's sev_es_negotiate_protocol): the hypervisor's max/min GHCB protocol
   * versions and the C-bit position; undefined when the answer is not SEV_INFO_RESP.
   */
  *sevInfo() {
    const raw = yield* this.msrProtocol(BigInt(2));
    if (ghcbMsrInfo(raw) !== 1) return void 0;
    return { ...decodeGhcbMsrSevInfo(raw), raw };
  }
  /**
   * CPUID_REQ for one register of leaf `fn` (subleaf 0; the MSR protocol has none): the value, or
   * undefined when the response code is not CPUID_RESP (Linux's __sev_cpuid_hv: -EIO).
   */
  cpuidMsr(fn, reg) {
    const tx = this.#tx;
    return new CpuidMsrExchange(this.cpu, fn, reg, tx.gpaLo, tx.gpaHi);
  }
  /**
   * A whole CPUID leaf through the MSR protocol, four requests EAX, EBX, ECX, EDX (Linux's
   * __sev_cpuid_hv_msr); undefined as soon as one answer is not CPUID_RESP.
   */
  *cpuidLeafMsr(fn) {
    const eax = yield* this.cpuidMsr(fn, 0);
    if (eax === void 0) return void 0;
    const ebx = yield* this.cpuidMsr(fn, 1);
    if (ebx === void 0) return void 0;
    const ecx = yield* this.cpuidMsr(fn, 2);
    if (ecx === void 0) return void 0;
    const edx = yield* this.cpuidMsr(fn, 3);
    if (edx === void 0) return void 0;
    return { eax, ebx, ecx, edx };
  }
  /** HV_FT_REQ: the GHCB_HV_FT_* bitmap ([63:12]), or undefined when the answer is not HV_FT_RESP. */
  *hvFeaturesMsr() {
    const raw = yield* this.msrProtocol(BigInt(128));
    if (ghcbMsrInfo(raw) !== 129) return void 0;
    return ghcbMsrData(raw);
  }
  /**
   * AP_RESET_HOLD_REQ: park until a SIPI. Returns the response's [63:12] (0 = not woken by a SIPI,
   * non-zero = woken), or undefined when the answer is not AP_RESET_HOLD_RESP.
   */
  *apResetHoldMsr() {
    const raw = yield* this.msrProtocol(BigInt(6));
    if (ghcbMsrInfo(raw) !== 7) return void 0;
    return ghcbMsrData(raw);
  }
  /**
   * TERM_REQ with `reasonSet` in [15:12] and `reasonCode` in [23:16] (Linux's sev_es_terminate).
   * A real guest halts forever after the VMGEXIT; this returns the raw MSR value seen after it so
   * a test can tell the hypervisor let the VM run on.
   */
  *terminateMsr(reasonSet, reasonCode) {
    return yield* this.msrProtocol(ghcbMsrTermReq(reasonSet, reasonCode));
  }
  /** Register the GHCB: write its GPA into the GHCB MSR (SEV-ES; no REG_GPA request, that is SNP). */
  register() {
    this.#tx.register();
  }
  // ---------------------------------------------------------------- GHCB page: building requests
  /** Start a request with Linux's vc_ghcb_invalidate: clear sw_exit_code and the valid bitmap. */
  invalidate() {
    this.#tx.begin();
  }
  /**
   * Write a save-area field of the request and set its valid bit (offset / 8), like Linux's
   * ghcb_set_*: a u64 at any 8-aligned offset below the valid bitmap, or the 1-byte cpl at 0xCB.
   */
  setField(offset, value) {
    checkSaveAreaOffset(offset);
    this.#tx.building().set(offset, value);
  }
  /**
   * A save-area field as the guest reads it now: after an exit, as the hypervisor left it in the
   * page (when the page was not RAM, RAX, RBX, RCX, RDX, sw_exit_info_1/2 and the valid bitmap as
   * loaded back, any other field as the client last staged it).
   */
  getField(offset) {
    checkSaveAreaOffset(offset);
    return this.#tx.codec.get(offset);
  }
  /** Whether the valid bit of the field at `offset` is set (Linux's ghcb_*_is_valid). */
  isValid(offset) {
    checkSaveAreaOffset(offset);
    return this.#tx.codec.isValid(offset);
  }
  /** Set or clear valid-bitmap bit `idx` (0..127) of the request, for hostile requests. */
  setValidBit(idx, on) {
    if (!Number.isInteger(idx) || idx < 0 || idx >= 16 * 8) {
      throw new RangeError(`valid bit ${idx} out of range`);
    }
    this.#tx.building().setValidBit(idx, on);
  }
  /** The ghcb_usage written with every request from now on (default 0, the only value KVM accepts). */
  setUsage(usage) {
    this.#tx.usage = usage >>> 0;
  }
  /** The protocol_version written with every request from now on (default: the client's version). */
  setProtocolVersion(version) {
    this.#tx.version = version & 65535;
  }
  /**
   * Write `bytes` at `offset` of the GHCB page now, e.g. to put garbage where the protocol does not
   * expect it. A later request may overwrite it (the first one zeroes the page).
   */
  *writeRaw(offset, bytes) {
    checkPageRange(offset, bytes.length);
    yield* this.#tx.access.write(this.ghcbGpa + offset, bytes);
  }
  /** Read `len` bytes at `offset` of the GHCB page from guest memory now. */
  *readRaw(offset, len) {
    checkPageRange(offset, len);
    const dst = new Uint8Array(len);
    yield* this.#tx.access.read(this.ghcbGpa + offset, dst);
    return dst;
  }
  // ---------------------------------------------------------------- GHCB page: issuing requests
  /**
   * Issue a NAE request (Linux's sev_es_ghcb_hv_call): invalidate, set sw_exit_code/info1/info2
   * and `fields` (by Linux field name or by offset, each marked valid), write usage and
   * protocol_version, VMGEXIT, read back sw_exit_info_1/2 and return the answer. Register values
   * the hypervisor wrote back (rax, rbx, rcx, rdx) are available afterwards via getField/isValid.
   */
  *vmgexit(exitCode, info1, info2, fields) {
    const list = fields && fieldList(fields);
    const g = this.#tx.begin();
    if (list) for (const [offset, value] of list) g.set(offset, value);
    if (typeof exitCode === "number" && exitCode >= 0) g.setNumber(912, exitCode);
    else g.set(912, BigInt(exitCode));
    g.set(920, info1);
    g.set(928, info2);
    return yield* this.#tx.exchange(0, 0);
  }
  /**
   * VMGEXIT with the request as built with invalidate/setField/setValidBit (or the page as it is,
   * when nothing was built), plus usage and protocol_version: no invalidate, no sw_exit_* set. For
   * hostile requests. Returns the answer, read back like `vmgexit`.
   */
  *vmgexitRaw() {
    this.#tx.building();
    return yield* this.#tx.exchange(0, 0);
  }
  // ---------------------------------------------------------------- NAE events
  /**
   * CPUID (SVM_EXIT_CPUID): RAX = fn, RCX = index; XCR0 only for leaf 0xD (KVM needs it there; OVMF
   * sends it only there). Returns EAX..EDX from the GHCB registers.
   */
  cpuid(fn, index = 0, xcr0 = 1n) {
    return new CpuidCall(this.#tx, fn, index, xcr0);
  }
  /** OUT (SVM_EXIT_IOIO): exit_info_1 from encodeIoioInfo, RAX = value (low `size` bytes). */
  ioOut(port, size, value) {
    return new IoOutCall(this.#tx, port, size, value);
  }
  /** IN (SVM_EXIT_IOIO): no RAX sent (KVM needs none); the value is RAX's low `size` bytes. */
  *ioIn(port, size) {
    const info1 = encodeIoioInfo({ port, size, in: true });
    this.#tx.begin();
    const result = yield* this.#hvCall(123, info1, 0);
    const r = this.#tx.codec;
    return {
      result,
      value: (r.getU32(504) & SIZE_MASK[size]) >>> 0,
      regsValid: r.isValid(504)
    };
  }
  /**
   * OUTS (SVM_EXIT_IOIO with STR, and REP unless there is one element): exit_info_2 = element
   * count, sw_scratch = the scratch area holding `data`.
   */
  *ioOutString(port, size, data, scratch2 = SCRATCH_IN_GHCB) {
    const count = elementCount(data.length, size);
    const info1 = encodeIoioInfo({ port, size, in: false, string: true, rep: count !== 1 });
    return yield* this.#scratchOut(123, info1, count, data, scratch2);
  }
  /**
   * INS (SVM_EXIT_IOIO with STR and TYPE IN, and REP unless count is 1): exit_info_2 = count,
   * sw_scratch = the scratch area; returns a copy of the `count * size` bytes found there afterwards.
   */
  *ioInString(port, size, count, scratch2 = SCRATCH_IN_GHCB) {
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`bad element count ${count}`);
    const info1 = encodeIoioInfo({ port, size, in: true, string: true, rep: count !== 1 });
    const len = count * size;
    const result = yield* this.#scratchIn(123, info1, count, len, scratch2);
    return { result, data: this.#dataBuf.slice(this.#dataOff, this.#dataOff + len) };
  }
  /**
   * MMIO read (SVM_VMGEXIT_MMIO_READ): exit_info_1 = gpa, exit_info_2 = len, sw_scratch = the
   * scratch area; returns a copy of the `len` bytes found there afterwards.
   */
  *mmioRead(gpa, len, scratch2 = SCRATCH_IN_GHCB) {
    const result = yield* this.mmioReadInPlace(gpa, len, scratch2);
    return { result, data: this.#dataBuf.slice(this.#dataOff, this.#dataOff + len) };
  }
  /** MMIO write (SVM_VMGEXIT_MMIO_WRITE): exit_info_1 = gpa, exit_info_2 = data length, data in scratch. */
  *mmioWrite(gpa, data, scratch2 = SCRATCH_IN_GHCB) {
    return yield* this.#scratchOut(2147483650, gpa, data.length, data, scratch2);
  }
  /** RDMSR (SVM_EXIT_MSR, exit_info_1 = 0): RCX = index; the value is EDX:EAX. */
  *rdmsr(index) {
    const g = this.#tx.begin();
    g.setNumber(776, index >>> 0);
    return this.#edxEax(yield* this.#hvCall(124, 0, 0));
  }
  /** WRMSR (SVM_EXIT_MSR, exit_info_1 = 1): RCX = index, RAX = low and RDX = high 32 bits of value. */
  *wrmsr(index, value) {
    const g = this.#tx.begin();
    g.setNumber(776, index >>> 0);
    g.set(504, value & MASK322);
    g.set(784, value >> 32n & MASK322);
    return yield* this.#hvCall(124, 1, 0);
  }
  /** RDTSC (SVM_EXIT_RDTSC, no inputs): the value is EDX:EAX. */
  *rdtsc() {
    return this.#edxEax(yield* this.#noInputs(110));
  }
  /** RDTSCP (SVM_EXIT_RDTSCP, no inputs): EDX:EAX and TSC_AUX in ECX. */
  *rdtscp() {
    const r = this.#edxEax(yield* this.#noInputs(135));
    const g = this.#tx.codec;
    return { ...r, aux: g.getU32(776), regsValid: r.regsValid && g.isValid(776) };
  }
  /** RDPMC (SVM_EXIT_RDPMC): RCX = counter; the value is EDX:EAX. */
  *rdpmc(counter) {
    const g = this.#tx.begin();
    g.setNumber(776, counter >>> 0);
    return this.#edxEax(yield* this.#hvCall(111, 0, 0));
  }
  /**
   * VMMCALL (SVM_EXIT_VMMCALL): RAX = nr, cpl; RBX, RCX, RDX, RSI = args[0..3] (0 when absent; all
   * four are always sent, as Linux's kvm_sev_es_hcall_prepare does). The value is RAX.
   */
  *vmmcall(nr, args = [], cpl = 0) {
    const g = this.#tx.begin();
    g.set(504, nr);
    g.setCpl(cpl & 255);
    g.set(792, args[0] ?? 0n);
    g.set(776, args[1] ?? 0n);
    g.set(784, args[2] ?? 0n);
    g.set(816, args[3] ?? 0n);
    return this.#rax(yield* this.#hvCall(129, 0, 0));
  }
  /** INVD (SVM_EXIT_INVD, no inputs). */
  invd() {
    return this.#noInputs(118);
  }
  /** WBINVD (SVM_EXIT_WBINVD, no inputs). */
  wbinvd() {
    return this.#noInputs(137);
  }
  /** MONITOR (SVM_EXIT_MONITOR): RAX (linear = physical address), RCX, RDX. */
  *monitor(rax, rcx, rdx) {
    const g = this.#tx.begin();
    g.set(504, rax);
    g.set(776, rcx);
    g.set(784, rdx);
    return yield* this.#hvCall(138, 0, 0);
  }
  /** MWAIT (SVM_EXIT_MWAIT): RAX (hints), RCX (extensions). */
  *mwait(rax, rcx) {
    const g = this.#tx.begin();
    g.set(504, rax);
    g.set(776, rcx);
    return yield* this.#hvCall(139, 0, 0);
  }
  /** Read DR7 (SVM_EXIT_READ_DR7, no inputs): the value is RAX. */
  *readDr7() {
    return this.#rax(yield* this.#noInputs(39));
  }
  /** Write DR7 (SVM_EXIT_WRITE_DR7): RAX = value (Linux's vc_handle_dr7_write). */
  *writeDr7(value) {
    const g = this.#tx.begin();
    g.set(504, value);
    return yield* this.#hvCall(55, 0, 0);
  }
  /** NMI_COMPLETE (Linux's sev_es_nmi_complete). */
  nmiComplete() {
    return this.#noInputs(2147483651);
  }
  /**
   * One round of AP_HLT_LOOP (Linux's sev_es_ap_hlt_loop loops on it): `woken` when
   * sw_exit_info_2 came back valid and non-zero (a SIPI arrived).
   */
  *apHltLoop() {
    const result = yield* this.vmgexit(2147483652, 0n, 0n);
    return { result, woken: this.#tx.codec.isValid(928) && result.info2 !== 0n };
  }
  /** AP_JUMP_TABLE SET (exit_info_1 = 0): store `gpa` (exit_info_2) as the AP jump table. */
  *apJumpTableSet(gpa) {
    return yield* this.vmgexit(2147483653, BigInt(0), BigInt(gpa));
  }
  /**
   * AP_JUMP_TABLE GET (exit_info_1 = 1, Linux's get_jump_table_addr): the table address from
   * sw_exit_info_2, or 0 when sw_exit_info_1/2 did not both come back valid.
   */
  *apJumpTableGet() {
    const result = yield* this.vmgexit(2147483653, BigInt(1), 0n);
    const g = this.#tx.codec;
    const valid = g.isValid(920) && g.isValid(928);
    return { result, value: valid ? result.info2 : 0n };
  }
  /** HV_FEATURES (GHCB v2 NAE event): the GHCB_HV_FT_* bitmap from sw_exit_info_2. */
  *hvFeatures() {
    const result = yield* this.vmgexit(2147549181, 0n, 0n);
    return { result, features: result.info2 };
  }
  /** TERM_REQUEST (GHCB v2 NAE event): exit_info_1 = SVM_VMGEXIT_TERM_REASON(set, code). */
  *termRequest(reasonSet, reasonCode) {
    return yield* this.vmgexit(2147549182, SVM_VMGEXIT_TERM_REASON(reasonSet, reasonCode), 0n);
  }
  /**
   * UNSUPPORTED_EVENT: the guest met an event it cannot handle (OVMF passes the #VC error code,
   * i.e. the exit code that raised it, in exit_info_1).
   */
  *unsupportedEvent(info1 = 0n, info2 = 0n) {
    return yield* this.vmgexit(2147549183, info1, info2);
  }
  // ---------------------------------------------------------------- for the #VC handler
  /**
   * MMIO read without copying the data out: the result, with the `len` bytes left at
   * `scratchData()` until the next request. For the #VC handler's hot path.
   */
  *mmioReadInPlace(gpa, len, scratch2 = SCRATCH_IN_GHCB) {
    if (!Number.isSafeInteger(len) || len < 0) throw new RangeError(`bad MMIO length ${len}`);
    return yield* this.#scratchIn(2147483649, gpa, len, len, scratch2);
  }
  /**
   * Where the last request's scratch data is: a buffer and an offset into it, good until the next
   * request or exit (it may be the GHCB page itself).
   */
  scratchData() {
    return { buf: this.#dataBuf, offset: this.#dataOff };
  }
  // ---------------------------------------------------------------- internals
  /**
   * Linux's sev_es_ghcb_hv_call for the request being built: sw_exit_code and sw_exit_info_1/2,
   * then the exchange (protocol_version and ghcb_usage, the GHCB GPA into the GHCB MSR, VMGEXIT,
   * the answer in sw_exit_info_1/2 as verify_exception_info classifies it; GhcbTransport.exchange).
   * [inLo, inHi): incoming scratch data in the page.
   */
  #hvCall(code, info1, info2, inLo = 0, inHi = 0) {
    const tx = this.#tx;
    tx.codec.setSwExit(code, info1, info2);
    return tx.exchange(inLo, inHi);
  }
  /** A request with nothing but its exit code. */
  *#noInputs(code) {
    this.#tx.begin();
    return yield* this.#hvCall(code, 0, 0);
  }
  /** The answer in RAX. */
  #rax(result) {
    const g = this.#tx.codec;
    return { result, value: g.get(504), regsValid: g.isValid(504) };
  }
  /** The answer in EDX:EAX. */
  #edxEax(result) {
    const g = this.#tx.codec;
    return {
      result,
      value: g.getEdxEax(),
      regsValid: g.isValid(504) && g.isValid(784)
    };
  }
  /** A request whose scratch area carries `data` to the hypervisor (OUTS, MMIO write). */
  *#scratchOut(code, info1, info2, data, scratch2) {
    let g;
    if ("gpa" in scratch2) {
      this.#tx.access.checkIdle();
      yield* this.#tx.access.write(scratch2.gpa, data);
      g = this.#tx.begin();
      g.setNumber(936, scratch2.gpa);
      this.#dataBuf = data;
      this.#dataOff = 0;
    } else {
      const off = ghcbScratchOffset(scratch2, data.length);
      g = this.#tx.begin();
      g.setBytes(off, data);
      g.setNumber(936, this.ghcbGpa + off);
      this.#dataBuf = g.bytes;
      this.#dataOff = off;
    }
    return yield* this.#hvCall(code, info1, info2);
  }
  /**
   * A request whose answer comes back in its scratch area (INS, MMIO read): `len` bytes left at
   * scratchData(). Data outside the GHCB is looked at only on success, as a guest kernel does.
   */
  *#scratchIn(code, info1, info2, len, scratch2) {
    if ("gpa" in scratch2) {
      this.#tx.begin().setNumber(936, scratch2.gpa);
      const result2 = yield* this.#hvCall(code, info1, info2);
      if (this.#outside.length < len) this.#outside = new Uint8Array(Math.max(len, this.#outside.length * 2));
      const dst = this.#outside.subarray(0, len);
      if (len > 0 && result2.kind === "ok") yield* this.#tx.access.read(scratch2.gpa, dst);
      else dst.fill(0);
      this.#dataBuf = this.#outside;
      this.#dataOff = 0;
      return result2;
    }
    const off = ghcbScratchOffset(scratch2, len);
    this.#tx.begin().setNumber(936, this.ghcbGpa + off);
    const result = yield* this.#hvCall(code, info1, info2, off, off + len);
    this.#dataBuf = this.#tx.codec.bytes;
    this.#dataOff = off;
    return result;
  }
};
const CpuidCall = class extends GhcbCall {
  constructor(tx, fn, index, xcr0) {
    super(tx);
    this.fn = fn;
    this.index = index;
    this.xcr0 = xcr0;
  }
  fn;
  index;
  xcr0;
  build(g) {
    const fn = this.fn >>> 0;
    g.setNumber(504, fn);
    g.setNumber(776, this.index >>> 0);
    if (fn === 13) g.set(1000, this.xcr0);
    g.setSwExit(114, 0, 0);
  }
  answer(g, result) {
    return {
      result,
      eax: g.getU32(504),
      ebx: g.getU32(792),
      ecx: g.getU32(776),
      edx: g.getU32(784),
      regsValid: g.isValid(504) && g.isValid(792) && g.isValid(776) && g.isValid(784)
    };
  }
};
const IoOutCall = class extends GhcbCall {
  constructor(tx, port, size, value) {
    super(tx);
    this.port = port;
    this.size = size;
    this.value = value;
  }
  port;
  size;
  value;
  build(g) {
    const info1 = encodeIoioInfo({ port: this.port, size: this.size, in: false });
    g.setNumber(504, (this.value & SIZE_MASK[this.size]) >>> 0);
    g.setSwExit(123, info1, 0);
  }
  answer(_g, result) {
    return result;
  }
};

// src/uapi/errno.ts
const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  ENOTBLK: 15,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  EDOM: 33,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENOMSG: 42,
  EIDRM: 43,
  ECHRNG: 44,
  EL2NSYNC: 45,
  EL3HLT: 46,
  EL3RST: 47,
  ELNRNG: 48,
  EUNATCH: 49,
  ENOCSI: 50,
  EL2HLT: 51,
  EBADE: 52,
  EBADR: 53,
  EXFULL: 54,
  ENOANO: 55,
  EBADRQC: 56,
  EBADSLT: 57,
  EBFONT: 59,
  ENOSTR: 60,
  ENODATA: 61,
  ETIME: 62,
  ENOSR: 63,
  ENONET: 64,
  ENOPKG: 65,
  EREMOTE: 66,
  ENOLINK: 67,
  EADV: 68,
  ESRMNT: 69,
  ECOMM: 70,
  EPROTO: 71,
  EMULTIHOP: 72,
  EDOTDOT: 73,
  EBADMSG: 74,
  EOVERFLOW: 75,
  ENOTUNIQ: 76,
  EBADFD: 77,
  EREMCHG: 78,
  ELIBACC: 79,
  ELIBBAD: 80,
  ELIBSCN: 81,
  ELIBMAX: 82,
  ELIBEXEC: 83,
  EILSEQ: 84,
  ERESTART: 85,
  ESTRPIPE: 86,
  EUSERS: 87,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EMSGSIZE: 90,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  ESOCKTNOSUPPORT: 94,
  EOPNOTSUPP: 95,
  EPFNOSUPPORT: 96,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ENETRESET: 102,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ESHUTDOWN: 108,
  ETOOMANYREFS: 109,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTDOWN: 112,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
  ESTALE: 116,
  EUCLEAN: 117,
  ENOTNAM: 118,
  ENAVAIL: 119,
  EISNAM: 120,
  EREMOTEIO: 121,
  EDQUOT: 122,
  ENOMEDIUM: 123,
  EMEDIUMTYPE: 124,
  ECANCELED: 125,
  ENOKEY: 126,
  EKEYEXPIRED: 127,
  EKEYREVOKED: 128,
  EKEYREJECTED: 129,
  EOWNERDEAD: 130,
  ENOTRECOVERABLE: 131,
  ERFKILL: 132,
  EHWPOISON: 133,
  ERESTARTSYS: 512,
  ERESTARTNOINTR: 513,
  ERESTARTNOHAND: 514,
  ENOIOCTLCMD: 515,
  ERESTART_RESTARTBLOCK: 516,
  EPROBE_DEFER: 517,
  EOPENSTALE: 518,
  ENOPARAM: 519,
  EBADHANDLE: 521,
  ENOTSYNC: 522,
  EBADCOOKIE: 523,
  ENOTSUPP: 524,
  ETOOSMALL: 525,
  ESERVERFAULT: 526,
  EBADTYPE: 527,
  EJUKEBOX: 528,
  EIOCBQUEUED: 529,
  ERECALLCONFLICT: 530,
  ENOGRACE: 531
};
const byValue = new Map(
  Object.keys(ERRNO).map((name) => [ERRNO[name], name])
);
function errnoName(value) {
  return byValue.get(value) ?? `ERRNO_${value}`;
}
function errnoValue(name) {
  return name in ERRNO ? ERRNO[name] : Number(name.slice("ERRNO_".length));
}
const Errno = class _Errno {
  constructor(errno, detail) {
    this.errno = errno;
    this.detail = detail;
    this.value = errnoValue(errno);
  }
  errno;
  detail;
  /** The errno as a number. */
  value;
  /** From a negative kernel return value (-EFAULT). */
  static fromNegative(r, detail) {
    return new _Errno(errnoName(-r), detail);
  }
  toString() {
    return this.detail ? `${this.errno}: ${this.detail}` : this.errno;
  }
};
function isErrno(v, errno) {
  return v instanceof Errno && (errno === void 0 || v.errno === errno);
}

// src/vmm/long-mode-entry.ts
const CR0_LONG = 0x80000011n;
const CR4_PAE2 = 0x20n;
const EFER_LONG = 0x500n;
function identityPageTables(pml4, size = 2 << 20) {
  const pages = size / (2 << 20);
  if (!Number.isInteger(pages) || pages < 1 || pages > 512)
    throw new RangeError(`identity map of ${size} bytes: a multiple of 2 MiB up to 1 GiB`);
  const pml4e = new Uint8Array(8);
  const pdpte = new Uint8Array(8);
  const pd = new Uint8Array(8 * pages);
  new DataView(pml4e.buffer).setBigUint64(0, BigInt(pml4 + 4096) | 3n, true);
  new DataView(pdpte.buffer).setBigUint64(0, BigInt(pml4 + 8192) | 3n, true);
  const dv = new DataView(pd.buffer);
  for (let i = 0; i < pages; i++) dv.setBigUint64(8 * i, BigInt(i) << 21n | 0x83n, true);
  return [
    { gpa: pml4, bytes: pml4e },
    { gpa: pml4 + 4096, bytes: pdpte },
    { gpa: pml4 + 8192, bytes: pd }
  ];
}
function flatSegment(selector, code) {
  return {
    base: 0n,
    limit: 4294967295,
    selector,
    type: code ? 11 : 3,
    present: 1,
    dpl: 0,
    s: 1,
    l: code ? 1 : 0,
    db: code ? 0 : 1,
    g: 1,
    avl: 0,
    unusable: 0
  };
}
function setLongModeEntry(vcpu, e) {
  const s = vcpu.getSregs();
  if (s instanceof Errno) return s;
  const ds = e.ds ?? 16;
  const sregs = {
    ...s,
    cr0: CR0_LONG,
    cr3: BigInt(e.cr3),
    cr4: CR4_PAE2,
    efer: EFER_LONG,
    cs: flatSegment(e.cs ?? 8, true),
    ds: flatSegment(ds, false),
    es: flatSegment(ds, false),
    ss: flatSegment(ds, false),
    ...e.gdt ? { gdt: { base: BigInt(e.gdt.base), limit: e.gdt.limit } } : {},
    ...e.idt ? { idt: { base: BigInt(e.idt.base), limit: e.idt.limit } } : {},
    ...e.tr ? {
      tr: {
        ...s.tr,
        base: BigInt(e.tr.base),
        limit: 103,
        selector: e.tr.selector,
        type: 11,
        present: 1,
        s: 0,
        g: 0,
        l: 0,
        db: 0,
        unusable: 0
      }
    } : {}
  };
  const set = vcpu.setSregs(sregs);
  if (set instanceof Errno) return set;
  const r = vcpu.getRegs();
  if (r instanceof Errno) return r;
  return vcpu.setRegs({ ...r, rip: BigInt(e.rip), rsp: BigInt(e.rsp), rflags: 2n });
}

// src/cpu/scripted.ts
const IOIO_ASIZE = {
  16: 1 << 7,
  32: 2 << 7,
  64: 4 << 7
};
const GuestException = class extends Error {
  constructor(vector, errorCode) {
    super(`guest exception vector ${vector}`);
    this.vector = vector;
    this.errorCode = errorCode;
    this.name = "GuestException";
  }
  vector;
  errorCode;
};
const RESUME_NONE = 0;
const RESUME_NEXT = 1;
const RESUME_THROW = 2;
const HYPERCALL_ARG_REGS = [3, 1, 2, 6];
const VC_VECTOR = 29;
const IRET_OP = { op: "iret" };
const UD_VECTOR2 = 6;
const MASK323 = 0xffffffffn;
const TWO324 = 4294967296;
const noMemory = {
  read: () => 2,
  write: () => 2
};
function movMoffsLength(mode, size, gpa) {
  if (size === 8) return mode === 64 ? 10 : 0;
  const prefix = (size === 2 ? mode !== 16 : size === 4 && mode === 16) ? 1 : 0;
  if (mode === 64) return prefix + 9;
  if (mode === 32) return prefix + 5;
  return prefix + (gpa > 65535 ? 6 : 3);
}
function movMoffsBytes(mode, size, store2, gpa) {
  const out = [];
  if (size === 8) {
    if (mode !== 64) return void 0;
    out.push(72);
  } else if (size === 2 ? mode !== 16 : size === 4 && mode === 16) {
    out.push(102);
  }
  let offBytes = mode === 64 ? 8 : 4;
  if (mode === 16) {
    if (gpa > 65535) out.push(103);
    else offBytes = 2;
  }
  out.push((store2 ? 162 : 160) | (size === 1 ? 0 : 1));
  for (let i = 0; i < offBytes; i++)
    out.push(i < 4 ? gpa >>> 8 * i & 255 : Math.floor(gpa / 4294967296) >>> 8 * (i - 4));
  return Uint8Array.from(out, (b) => b & 255);
}
function trapLike(op, protectedState) {
  return op.op === "vmgexit" || protectedState && op.op === "hlt";
}
function writesRegisters(op) {
  switch (op.op) {
    case "in":
    case "load":
    case "rdmsr":
    case "rdpmc":
    case "cpuid":
    case "vmmcall":
      return true;
    default:
      return false;
  }
}
function* resumeAfter(kind, value, op) {
  if (op) return yield op;
  if (kind === 2) throw value;
  return value;
}
function opLength(op, mode) {
  switch (op.op) {
    case "out":
    case "in": {
      const base = op.port < 256 ? 2 : 1;
      const prefix = op.size === 1 ? 0 : op.size === 2 === (mode === 16) ? 0 : 1;
      return base + prefix;
    }
    case "rdmsr":
    case "wrmsr":
    case "cpuid":
    case "rdpmc":
      return 2;
    // 0F 32, 0F 30, 0F A2, 0F 33
    case "vmmcall":
      return 3;
    // 0F 01 D9
    case "vmgexit":
      return 4;
    // F3 0F 01 D9
    case "iret":
      return mode === 64 ? 2 : 1;
    // 48 CF (IRETQ), CF
    default:
      return 1;
  }
}
const ScriptedCpu = class {
  protectedState;
  /** The guest's #VC handler (SEV-ES); without one, an instruction that raises #VC kills the guest. */
  vcHandler;
  /** The guest's handler for external interrupts and NMIs; without one they are lost (IRET at once). */
  interruptHandler;
  /** Guest physical memory as this CPU sees it; accesses that would fault return a non-NPT_OK code. */
  mem = noMemory;
  /** Why the CPU shut down (an exception nobody handled, or a bug in the program), if it did. */
  crash;
  /** Set by the guest program for its observers (tests, the scenario runner). */
  notes = {};
  /** Instructions executed (every op the program yielded that the CPU started). */
  instructions = 0;
  #state = "ready";
  #program;
  #vmcb = new Vmcb();
  /** The register array: KVM's vcpu->arch.regs for an unprotected guest, the VMSA's for SEV-ES. */
  #regs = newGprs();
  /** The save area: the VMCB's, or (SEV-ES) the CPU's own VMSA. */
  #save = this.#vmcb.save;
  #stack = [];
  /** The instruction that exited and has not completed, its RIP and the RIP after it. */
  #pending;
  #pendingRip = 0;
  #pendingNext = 0;
  /** RIP of the next instruction while running (the save area holds it between runs). */
  #rip = 0;
  /** Where a finished program sits: `1: hlt; jmp 1b` at this RIP. */
  #doneRip = 0;
  /** What each handler's IRET pops, innermost last: the interrupted RIP and RFLAGS.IF. */
  #iretFrames = [];
  /** A resumption the program has not received yet when a host interrupt ended the run. */
  #carryKind = 0;
  #carryValue;
  /** Set by #execute when an instruction completes inside the CPU (RESUME_NEXT or RESUME_THROW). */
  #resumeKind = 0;
  #resumeValue;
  #buf = new Uint8Array(8);
  #bufView = new DataView(this.#buf.buffer);
  constructor(program, opts = {}) {
    this.#program = program;
    this.protectedState = opts.protectedState ?? false;
    writeResetState(this.#save);
  }
  get state() {
    return this.#state;
  }
  /** The guest's GHCB MSR (MSR_AMD64_SEV_ES_GHCB), which SEV-ES hardware keeps in the VMCB. */
  get ghcbMsr() {
    return this.#vmcb.ghcbGpa;
  }
  set ghcbMsr(v) {
    this.#vmcb.ghcbGpa = v;
  }
  /** The GHCB MSR's bits 31:0 and 63:32 (what an MSR-protocol guest reads with RDMSR in EAX:EDX). */
  get ghcbMsrLo() {
    return this.#vmcb.ghcbGpaLo;
  }
  get ghcbMsrHi() {
    return this.#vmcb.ghcbGpaHi;
  }
  /** WRMSR to the GHCB MSR with EAX = `lo`, EDX = `hi`. */
  setGhcbMsr(lo, hi) {
    this.#vmcb.setGhcbGpa(lo, hi);
  }
  attach(hw) {
    this.#vmcb = hw.vmcb;
    this.mem = hw.mem;
    if (this.protectedState || !hw.regs) {
      const vmsa = new DataView(hw.vmcb.save.buffer.slice(0));
      this.#save = vmsa;
    } else {
      this.#save = hw.vmcb.save;
      this.#regs = hw.regs;
    }
  }
  vmrun(budget) {
    const vmcb = this.#vmcb;
    if (this.#state === "shutdown") {
      this.#exitAt(127, 0, 0, 0, 0);
      return;
    }
    const save = this.#save;
    this.#rip = getU64Number(save, 376);
    let kind = 0;
    let value;
    let op;
    const pending = this.#pending;
    this.#pending = void 0;
    if (this.#state === "ready") {
      this.#state = "running";
      this.#stack.push(this.#program(this));
      kind = 1;
    } else if (pending) {
      if (this.#rip === this.#pendingNext || trapLike(pending, this.protectedState)) {
        kind = 1;
        value = this.#completion(pending);
        this.#rip = this.#pendingNext;
      } else if (this.#rip === this.#pendingRip) {
        op = pending;
      } else {
        this.#shutdown(
          new Error(`RIP moved to 0x${this.#rip.toString(16)}: a scripted guest has no code there`)
        );
        return;
      }
    } else {
      kind = this.#carryKind;
      value = this.#carryValue;
      this.#carryKind = 0;
      this.#carryValue = void 0;
    }
    const inj = vmcb.eventInj;
    if (inj & 2147483648 && this.#state === "running") {
      vmcb.eventInj = 0;
      const vector = inj & 255;
      const type = inj & SVM_EVTINJ_TYPE_MASK;
      if (type === SVM_EVTINJ_TYPE_EXEPT) {
        const exception = new GuestException(
          vector,
          inj & SVM_EVTINJ_VALID_ERR ? vmcb.eventInjErr : void 0
        );
        if (kind === 1 && pending && writesRegisters(pending)) op = this.#step(kind, value);
        kind = op || this.#state === "running" ? 2 : 0;
        value = kind === 2 ? exception : void 0;
        op = void 0;
      } else if (this.interruptHandler) {
        this.#iretFrames.push({ rip: this.#rip, interruptFlag: this.#interruptible() });
        this.#stack.push(resumeAfter(kind, value, op));
        this.#stack.push(this.#interruptFrame(this.interruptHandler, vector, type === SVM_EVTINJ_TYPE_NMI));
        kind = 1;
        value = void 0;
        op = void 0;
      }
    }
    if (this.#state === "done") {
      this.#finalHalt();
      return;
    }
    for (let n2 = 0; ; n2++) {
      if (n2 >= budget || vmcb.intCtl & V_IRQ_MASK && this.#interruptible() && vmcb.isIntercept(100)) {
        if (op) {
          this.#pending = op;
          this.#pendingRip = this.#rip;
          this.#pendingNext = -1;
        }
        this.#carryKind = kind;
        this.#carryValue = value;
        this.#exitAt(n2 >= budget ? 96 : 100, 0, 0, 0, 0);
        return;
      }
      if (kind !== 0) {
        op = this.#step(kind, value);
        kind = 0;
        value = void 0;
        if (op === void 0) {
          if (this.#state === "shutdown") this.#exitAt(127, 0, 0, 0, 0);
          else this.#finalHalt();
          return;
        }
      }
      this.instructions++;
      if (!this.#execute(op)) return;
      op = void 0;
      kind = this.#resumeKind;
      value = this.#resumeValue;
      this.#resumeValue = void 0;
    }
  }
  /** A finished program halts where it ended, for good: each HLT exit has its next_rip, then it jumps back. */
  #finalHalt() {
    this.#rip = this.#doneRip;
    this.#exitAt(120, 0, 0, 0, 0, this.#doneRip + 1);
  }
  #shutdown(crash) {
    this.crash = crash;
    this.#state = "shutdown";
    this.#stack.length = 0;
    this.#iretFrames.length = 0;
    this.#exitAt(127, 0, 0, 0, 0);
  }
  #interruptible() {
    return (this.#save.getUint32(368, true) & RFLAGS_IF) !== 0;
  }
  /**
   * The handler of an external interrupt (IF cleared, as an interrupt gate does) or NMI, ended by
   * its IRET, which restores RIP and IF (KVM may intercept it to learn that an NMI handler is done).
   */
  *#interruptFrame(handler, vector, nmi) {
    if (!nmi) this.#setIf(false);
    yield* handler(vector, this);
    yield IRET_OP;
  }
  #setIf(on) {
    const f = this.#save.getUint32(368, true);
    this.#save.setUint32(368, on ? f | RFLAGS_IF : f & ~RFLAGS_IF, true);
  }
  /** Drive the frame stack until some frame yields an instruction; undefined when the program ended. */
  #step(resumeKind, resumeValue) {
    let kind = resumeKind;
    let value = resumeValue;
    const stack = this.#stack;
    for (; ; ) {
      const top = stack[stack.length - 1];
      if (!top) {
        this.#state = "done";
        this.#doneRip = this.#rip;
        return void 0;
      }
      let res;
      try {
        res = kind === 1 ? top.next(value) : top.throw(value);
      } catch (error) {
        stack.pop();
        if (stack.length === 0) {
          this.crash = error;
          this.#state = "shutdown";
          return void 0;
        }
        kind = 2;
        value = error;
        continue;
      }
      if (!res.done) return res.value;
      stack.pop();
      kind = 1;
      value = res.value;
    }
  }
  /** An instruction completed inside the CPU: RIP moves past it and the program resumes with `value`. */
  #resumeNext(len, value) {
    this.#rip += len;
    this.#resumeKind = 1;
    this.#resumeValue = value;
    return true;
  }
  /** An instruction completed by raising an exception in the program (RIP stays at it). */
  #resumeThrow(error) {
    this.#resumeKind = 2;
    this.#resumeValue = error;
    return true;
  }
  /**
   * Execute one instruction: true when it completed inside the CPU (the resumption is in
   * #resumeKind / #resumeValue), false when it exited (the VMCB holds the #VMEXIT).
   */
  #execute(op) {
    const regs = this.#regs;
    const vmcb = this.#vmcb;
    switch (op.op) {
      case "load":
      case "store": {
        const buf = this.#buf.subarray(0, op.size);
        if (op.op === "store") this.#bufView.setBigUint64(0, op.value, true);
        const r = op.op === "load" ? this.mem.read(op.gpa, buf) : this.mem.write(op.gpa, buf);
        const mode = codeSize(this.#save);
        const len = movMoffsLength(mode, op.size, op.gpa);
        if (r === 0)
          return this.#resumeNext(len || 8, op.op === "load" ? this.#loadValue(op.size) : void 0);
        if (r === 2 && this.protectedState) return this.#raiseVc(op);
        if (len === 0) return this.#resumeThrow(new GuestException(6));
        if (op.op === "store") setGpr(regs, 0, op.value);
        let err = op.op === "store" ? 2 : 0;
        if (r === 2) err |= 8 | 1;
        else if (r === 3) err |= 1;
        const bytes = movMoffsBytes(mode, op.size, op.op === "store", op.gpa);
        this.#pendingAt(op, len);
        const at = this.#faultingGpa(op.gpa, op.size, op.op === "store");
        this.#exitAt(1024, err, 1, at >>> 0, Math.floor(at / 4294967296));
        vmcb.insnBytes.set(bytes);
        vmcb.insnLen = bytes.length;
        return false;
      }
      case "out":
      case "in": {
        if (this.protectedState) return this.#raiseVc(op);
        const mode = codeSize(this.#save);
        if (op.op === "out") setGpr(regs, 0, BigInt(op.value >>> 0));
        const info = (op.port << 16 | IOIO_ASIZE[mode] | op.size << 4 | (op.op === "in" ? 1 : 0)) >>> 0;
        const next = this.#pendingAt(op, opLength(op, mode));
        return this.#exitAt(123, info, 0, next >>> 0, Math.floor(next / 4294967296), next);
      }
      case "rdmsr":
      case "wrmsr":
        if (this.protectedState) return this.#raiseVc(op);
        setGpr32(regs, 1, op.index >>> 0);
        if (op.op === "wrmsr") {
          setGpr32(regs, 0, Number(op.value & MASK323));
          setGpr32(regs, 2, Number(op.value >> 32n & MASK323));
        }
        return this.#exitAt(124, op.op === "wrmsr" ? 1 : 0, 0, 0, 0, this.#pendingAt(op, 2));
      case "cpuid":
        if (this.protectedState) return this.#raiseVc(op);
        setGpr32(regs, 0, op.fn >>> 0);
        setGpr32(regs, 1, op.index >>> 0);
        return this.#exitAt(114, 0, 0, 0, 0, this.#pendingAt(op, 2));
      case "rdpmc":
        if (this.protectedState) return this.#raiseVc(op);
        setGpr32(regs, 1, op.counter >>> 0);
        return this.#exitAt(111, 0, 0, 0, 0, this.#pendingAt(op, 2));
      case "vmmcall":
        if (this.protectedState) return this.#raiseVc(op);
        setGpr(regs, 0, op.nr);
        for (let i = 0; i < HYPERCALL_ARG_REGS.length; i++)
          setGpr(regs, HYPERCALL_ARG_REGS[i], op.args[i] ?? 0n);
        return this.#exitAt(129, 0, 0, 0, 0, this.#pendingAt(op, 3));
      case "hlt":
        return this.#exitAt(120, 0, 0, 0, 0, this.#pendingAt(op, 1));
      case "sti":
      case "cli":
        this.#setIf(op.op === "sti");
        return this.#resumeNext(1, void 0);
      case "vmgexit":
        if (!this.protectedState) {
          return this.#resumeThrow(new GuestException(6));
        }
        return this.#exitAt(1027, 0, 0, 0, 0, this.#pendingAt(op, 4));
      case "iret": {
        if (vmcb.isIntercept(116))
          return this.#exitAt(
            116,
            0,
            0,
            0,
            0,
            this.#pendingAt(op, opLength(op, codeSize(this.#save)))
          );
        const frame = this.#iretFrames.pop();
        if (frame) {
          this.#setIf(frame.interruptFlag);
          this.#rip = frame.rip;
        }
        this.#resumeKind = 1;
        this.#resumeValue = void 0;
        return true;
      }
      case "triple-fault":
        this.#state = "shutdown";
        this.#stack.length = 0;
        this.#iretFrames.length = 0;
        return this.#exitAt(127, 0, 0, 0, 0);
      default: {
        const never = op;
        return this.#resumeThrow(new Error(`unknown guest op ${JSON.stringify(never)}`));
      }
    }
  }
  /**
   * The GPA a nested page fault reports: the access's own when its first page faults, else the
   * start of the page after (an access crossing into a page that is not RAM).
   */
  #faultingGpa(gpa, size, write) {
    const inFirst = 4096 - gpa % 4096;
    if (size <= inFirst) return gpa;
    const first = this.mem.page?.(gpa, write);
    return first ? gpa + inFirst : gpa;
  }
  /** `op` (at RIP, `len` bytes long) exits: remember it and its next RIP, which is returned. */
  #pendingAt(op, len) {
    this.#pending = op;
    this.#pendingRip = this.#rip;
    this.#pendingNext = this.#rip + len;
    return this.#pendingNext;
  }
  #raiseVc(op) {
    const handler = this.vcHandler;
    if (!handler) return this.#resumeThrow(new GuestException(29));
    this.#stack.push(handler(op, this));
    this.#resumeKind = 1;
    this.#resumeValue = void 0;
    return true;
  }
  #saveRip() {
    setU64Number(this.#save, 376, this.#rip);
  }
  /** #VMEXIT with the given code and infos; an instruction intercept also reports next_rip. */
  #exitAt(code, info1Lo, info1Hi, info2Lo, info2Hi, next = 0) {
    const vmcb = this.#vmcb;
    vmcb.setExit(code, info1Lo, info1Hi, info2Lo, info2Hi);
    setU64Number(vmcb.control, 200, next);
    vmcb.insnLen = 0;
    this.#saveRip();
    return false;
  }
  #loadValue(size) {
    const v = this.#bufView.getBigUint64(0, true);
    return size === 8 ? v : BigInt.asUintN(size * 8, v);
  }
  /** What a completed instruction hands back to the program, taken from the registers KVM wrote. */
  #completion(op) {
    const regs = this.#regs;
    const rax = gpr32(regs, 0);
    switch (op.op) {
      case "in":
        return op.size === 4 ? rax : rax & (1 << op.size * 8) - 1;
      case "load": {
        const v = gpr(regs, 0);
        return op.size === 8 ? v : BigInt.asUintN(op.size * 8, v);
      }
      case "rdmsr":
      case "rdpmc":
        return BigInt(gpr32(regs, 2)) << 32n | BigInt(rax);
      case "cpuid":
        return {
          eax: rax,
          ebx: gpr32(regs, 3),
          ecx: gpr32(regs, 1),
          edx: gpr32(regs, 2)
        };
      case "vmmcall":
        return gpr(regs, 0);
      default:
        return void 0;
    }
  }
  // Instructions, for guest programs: `const v = yield* cpu.in(0x60, 1)`.
  /** OUT: write `value` to `port`. */
  *out(port, size, value) {
    yield { op: "out", port, size, value };
  }
  /** IN: read `size` bytes from `port`. */
  *in(port, size) {
    return yield { op: "in", port, size };
  }
  /** A load instruction (`mov rax, [gpa]`): RAM, or MMIO when the GPA is not RAM. */
  *load(gpa, size) {
    return yield { op: "load", gpa, size };
  }
  /** A store instruction (`mov [gpa], rax`). */
  *store(gpa, size, value) {
    yield { op: "store", gpa, size, value: BigInt.asUintN(size * 8, value) };
  }
  /** RDMSR. */
  *rdmsr(index) {
    return yield { op: "rdmsr", index };
  }
  /** WRMSR. */
  *wrmsr(index, value) {
    yield { op: "wrmsr", index, value: BigInt.asUintN(64, value) };
  }
  /** RDPMC: performance counter `counter` (ECX), as EDX:EAX. */
  *rdpmc(counter) {
    return yield { op: "rdpmc", counter };
  }
  /** CPUID. */
  *cpuid(fn, index = 0) {
    return yield { op: "cpuid", fn, index };
  }
  /** HLT. */
  *hlt() {
    yield { op: "hlt" };
  }
  /** STI: maskable interrupts may be delivered from now on. */
  *sti() {
    yield { op: "sti" };
  }
  /** CLI. */
  *cli() {
    yield { op: "cli" };
  }
  /** VMMCALL with hypercall number `nr` and up to four arguments (RBX, RCX, RDX, RSI). */
  *vmmcall(nr, ...args) {
    return yield { op: "vmmcall", nr, args };
  }
  /** VMGEXIT (SEV-ES): hand the GHCB (or the GHCB MSR request) to the hypervisor. */
  *vmgexit() {
    yield { op: "vmgexit" };
  }
  /** A triple fault: the CPU shuts down. */
  *tripleFault() {
    yield { op: "triple-fault" };
    throw new Error("unreachable: the CPU is shut down");
  }
};

// src/cpu/scripted-guests.ts
const ScriptedGuests = class {
  #guests = /* @__PURE__ */ new Map();
  #cpus = /* @__PURE__ */ new Map();
  /** Install `guest` as the program vCPU `id` will run (before KVM_CREATE_VCPU creates it). */
  load(id, guest) {
    this.#guests.set(id, guest);
  }
  /** The CPU factory for the model's Kvm: a ScriptedCpu running the program loaded for that id. */
  cpus = (id, protectedState) => {
    const g = this.#guests.get(id);
    const cpu = new ScriptedCpu(g?.program ?? idle, { protectedState });
    if (g?.vcHandler) cpu.vcHandler = g.vcHandler;
    if (g?.interruptHandler) cpu.interruptHandler = g.interruptHandler;
    this.#cpus.set(id, cpu);
    return cpu;
  };
  /** The CPU of vCPU `id` (for tests of the guest side; never for KVM or a VMM). */
  cpu(id) {
    return this.#cpus.get(id);
  }
  finished(id) {
    return this.#cpus.get(id)?.state === "done";
  }
  crash(id) {
    const cpu = this.#cpus.get(id);
    if (cpu?.state !== "shutdown" || cpu.crash === void 0) return void 0;
    const c = cpu.crash;
    return c instanceof Error ? `${c.name}: ${c.message}` : String(c);
  }
};
function* idle() {
}

// src/cpu/x86/blocks.ts
const PAGE_SIZE = 4096;
const Block = class {
  constructor(gpa, codeSize2, insns, bytes, pages, epoch) {
    this.gpa = gpa;
    this.codeSize = codeSize2;
    this.insns = insns;
    this.bytes = bytes;
    this.pages = pages;
    this.epoch = epoch;
  }
  gpa;
  codeSize;
  insns;
  bytes;
  pages;
  /** Run in this epoch already, with its bytes as decoded. */
  epoch;
  /** Still in the cache (false once invalidated). */
  live = true;
  /** The block execution went to after this one last time, at RIP succRip, under TLB generation succGen. */
  succ = void 0;
  succRip = -1;
  succGen = -1;
  /** Times the interpreter ran it (compile/policy.ts compiles it once it is hot). */
  runs = 0;
  /** Its compiled form once hot; it goes with the block when the block is invalidated. */
  compiled = void 0;
};
function modeIndex(codeSize2) {
  return codeSize2 === 64 ? 2 : codeSize2 === 32 ? 1 : 0;
}
const BlockCache = class {
  /** One map per code size: GPA → block. */
  #byGpa = [/* @__PURE__ */ new Map(), /* @__PURE__ */ new Map(), /* @__PURE__ */ new Map()];
  /** Page GPA → the blocks with bytes in it. */
  #byPage = /* @__PURE__ */ new Map();
  epoch = 0;
  /** Blocks dropped because their code changed (for tests and stats). */
  invalidations = 0;
  /** Blocks compiled (for tests and stats). */
  compiled = 0;
  lookup(gpa, codeSize2) {
    return this.#byGpa[modeIndex(codeSize2)].get(gpa);
  }
  insert(b) {
    this.#byGpa[modeIndex(b.codeSize)].set(b.gpa, b);
    for (const p2 of b.pages) {
      const list = this.#byPage.get(p2);
      if (list) list.push(b);
      else this.#byPage.set(p2, [b]);
    }
  }
  /** Whether a guest-physical page holds decoded code. */
  hasCode(gpaPage) {
    return this.#byPage.has(gpaPage);
  }
  /** Drop every block with bytes in a page (a store to it). */
  invalidatePage(gpaPage) {
    const list = this.#byPage.get(gpaPage);
    if (!list) return;
    for (const b of list) this.remove(b);
  }
  /** Drop one block. */
  remove(b) {
    const map = this.#byGpa[modeIndex(b.codeSize)];
    if (map.get(b.gpa) !== b) return;
    map.delete(b.gpa);
    b.live = false;
    this.invalidations++;
    for (const p2 of b.pages) {
      const list = this.#byPage.get(p2);
      if (!list) continue;
      const rest = list.filter((x) => x !== b);
      if (rest.length) this.#byPage.set(p2, rest);
      else this.#byPage.delete(p2);
    }
  }
  /** Page of a GPA. */
  static page(gpa) {
    return gpa - gpa % 4096;
  }
};

// src/cpu/x86/insn.ts
const NEXT = 0;
const STOP = 1;
const STOP_SIGNAL = /* @__PURE__ */ Symbol("x86 stop");
const REG_AH = 16;
const REG_NONE = -1;
const OPERAND_NONE = 0;
const OPERAND_GPR = 1;
const OPERAND_MEM = 2;
const OPERAND_IMM = 3;
const OPERAND_REL = 4;
const OPERAND_OTHER = 5;
const Insn = class {
  exec;
  /** Length in bytes. */
  len = 0;
  /** iced-x86's Code: the exact instruction form (names for coverage, #UD reports). */
  code = 0;
  /** The mnemonic, for coverage counts and traces. */
  name = "";
  /** Operand size in bytes (1, 2, 4, 8). */
  size = 0;
  /** Address size in bytes (2, 4, 8). */
  asize = 0;
  /** Register operands (see REG_AH), or REG_NONE. */
  r0 = (-1);
  r1 = (-1);
  /** Immediate, sign- or zero-extended to the operand size as the encoding defines, as u32 halves. */
  immLo = 0;
  immHi = 0;
  /** Second immediate (ENTER), or a far branch's selector. */
  imm2 = 0;
  /** Memory operand: segment (SEG_*), base and index registers (0-15, or REG_NONE), scale, displacement. */
  mseg = -1;
  mbase = (-1);
  mindex = (-1);
  mscale = 1;
  /** Displacement, sign-extended to the address size (a number: exact below 2^53). */
  mdisp = 0;
  /** RIP-relative: the displacement is from the next instruction. */
  ripRel = false;
  /** Relative branch displacement (from the next instruction), sign-extended. */
  rel = 0;
  /** Condition code (x86 tttn) of Jcc/SETcc/CMOVcc. */
  cc = 0;
  /** REP prefix: 0 none, 1 REP/REPE, 2 REPNE. */
  rep = 0;
  /** Kinds of operands 0 and 1 as decoded (OPERAND_*). */
  kind0 = 0;
  kind1 = 0;
  constructor(exec) {
    this.exec = exec;
  }
};

// src/cpu/x86/mmu.ts
const PAGE_SIZE2 = 4096;
const TWO325 = 4294967296;
const CR0_WP = 1 << 16;
const CR4_PSE = 1 << 4;
const EFER_NXE = 1 << 11;
const ACC_READ = 0;
const ACC_WRITE = 1;
const ACC_FETCH = 2;
const PTE_P = 1;
const PTE_W = 2;
const PTE_U = 4;
const PTE_A = 32;
const PTE_D = 64;
const PTE_PS = 128;
const TLB_SIZE = 256;
const Tlb = class {
  tag = new Float64Array(256).fill(-1);
  gpaPage = new Float64Array(256);
  bytes = new Array(256).fill(void 0);
  view = new Array(256).fill(void 0);
  /** The entry may be written through (the walk allowed it and the dirty bit is set). */
  writable = new Uint8Array(256);
  /** The entry may be executed (no XD). */
  executable = new Uint8Array(256);
  /** Bumped whenever a translation may have changed (what a cached block successor depends on). */
  generation = 0;
  /** The rights the entries were filled with: user (CPL 3) or supervisor accesses. */
  user = false;
  /** The paging state the entries were filled under (CR0, CR3, CR4, EFER). */
  cr0 = -1;
  cr3 = -1;
  cr4 = -1;
  efer = -1;
  flush() {
    this.tag.fill(-1);
    this.generation++;
  }
  /** Drop the writable entries of a guest-physical page (it now holds decoded code). */
  dropWritable(gpaPage) {
    for (let i = 0; i < 256; i++) if (this.writable[i] && this.gpaPage[i] === gpaPage) this.tag[i] = -1;
    this.generation++;
  }
  /** INVLPG: drop the entry of one linear page. */
  flushPage(lpage) {
    const i = slot(lpage);
    if (this.tag[i] === lpage) this.tag[i] = -1;
    this.generation++;
  }
};
function slot(lpage) {
  return (lpage & 256 - 1) >>> 0;
}
function pageOffset(la) {
  return la & 4096 - 1;
}
function linearPage(la) {
  return (la - (la & 4096 - 1)) / 4096;
}
function translate(cpu, la, acc, user) {
  const s = cpu.s;
  if (!(s.cr0 & 2147483648)) return la >>> 0;
  if (s.efer & EFER_LMA) return walk64(cpu, la, acc, user);
  if (s.cr4 & CR4_PAE) return walkPae(cpu, la >>> 0, acc, user);
  return walk32(cpu, la >>> 0, acc, user);
}
function pfErr(acc, user, present, rsvd) {
  let e = 0;
  if (present) e |= 1;
  if (acc === 1) e |= 2;
  if (user) e |= 4;
  if (rsvd) e |= 8 | 1;
  if (acc === 2) e |= 16;
  return e;
}
function readPte(cpu, gpa, size) {
  const page = cpu.physPage(gpa, false);
  const off = gpa % 4096;
  const dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  cpu.pteLo = dv.getUint32(off, true);
  cpu.pteHi = size === 8 ? dv.getUint32(off + 4, true) : 0;
}
function setPteBits(cpu, gpa, bits) {
  const page = cpu.physPage(gpa, true);
  const off = gpa % 4096;
  const dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  dv.setUint32(off, (dv.getUint32(off, true) | bits) >>> 0, true);
}
function checkRights(cpu, la, acc, user, rw, us, nx) {
  const s = cpu.s;
  if (user && !us) cpu.pageFault(la, pfErr(acc, user, true, false));
  if (acc === 1 && !rw && (user || s.cr0 & CR0_WP)) cpu.pageFault(la, pfErr(acc, user, true, false));
  if (acc === 2 && nx && s.efer & EFER_NXE) cpu.pageFault(la, pfErr(acc, user, true, false));
}
function walk64(cpu, la, acc, user) {
  if (la >= 2 ** 47 || la < -(2 ** 47)) cpu.generalProtection(0);
  const a = la < 0 ? la + 2 ** 48 : la;
  return walkLevels(cpu, la, a, acc, user, cpu.s.cr3 - cpu.s.cr3 % 4096, 4);
}
function walkPae(cpu, la, acc, user) {
  const pdpta = (cpu.s.cr3 & 4294967264) >>> 0;
  readPte(cpu, pdpta + (la >>> 30) * 8, 8);
  if (!(cpu.pteLo & 1)) cpu.pageFault(la, pfErr(acc, user, false, false));
  const pd = (cpu.pteHi & 1048575) * 4294967296 + ((cpu.pteLo & 4294963200) >>> 0);
  return walkLevels(cpu, la, la, acc, user, pd, 2);
}
function walkLevels(cpu, la, a, acc, user, top, levels) {
  const nxe = (cpu.s.efer & EFER_NXE) !== 0;
  let table = top;
  let rw = true;
  let us = true;
  let nx = false;
  for (let level = levels; level >= 1; level--) {
    const shift3 = 12 + 9 * (level - 1);
    const ptea = table + Math.floor(a / 2 ** shift3) % 512 * 8;
    readPte(cpu, ptea, 8);
    const lo = cpu.pteLo;
    const hi = cpu.pteHi;
    if (!(lo & 1)) cpu.pageFault(la, pfErr(acc, user, false, false));
    if ((hi & 2146435072) !== 0 || !nxe && hi & 2147483648)
      cpu.pageFault(la, pfErr(acc, user, true, true));
    rw &&= (lo & 2) !== 0;
    us &&= (lo & 4) !== 0;
    nx ||= (hi & 2147483648) !== 0;
    const base = (hi & 1048575) * 4294967296 + ((lo & 4294963200) >>> 0);
    if (lo & 128 && level === 4) cpu.pageFault(la, pfErr(acc, user, true, true));
    if (level > 1 && !(lo & 128)) {
      if (!(lo & 32)) setPteBits(cpu, ptea, 32);
      table = base;
      continue;
    }
    checkRights(cpu, la, acc, user, rw, us, nx);
    const dirty = acc === 1 ? 64 : 0;
    if ((lo & (32 | dirty)) !== (32 | dirty)) setPteBits(cpu, ptea, 32 | dirty);
    const pageSize = 2 ** shift3;
    return base - base % pageSize + a % pageSize;
  }
  throw new Error("unreachable");
}
function walk32(cpu, la, acc, user) {
  const pdea = ((cpu.s.cr3 & 4294963200) >>> 0) + (la >>> 22) * 4;
  readPte(cpu, pdea, 4);
  const pde = cpu.pteLo;
  if (!(pde & 1)) cpu.pageFault(la, pfErr(acc, user, false, false));
  if (pde & 128 && cpu.s.cr4 & CR4_PSE) {
    checkRights(cpu, la, acc, user, (pde & 2) !== 0, (pde & 4) !== 0, false);
    const dirty2 = acc === 1 ? 64 : 0;
    if ((pde & (32 | dirty2)) !== (32 | dirty2)) setPteBits(cpu, pdea, 32 | dirty2);
    return ((pde & 4290772992) >>> 0) + (la & 4194303);
  }
  if (!(pde & 32)) setPteBits(cpu, pdea, 32);
  const ptea = ((pde & 4294963200) >>> 0) + (la >>> 12 & 1023) * 4;
  readPte(cpu, ptea, 4);
  const pte = cpu.pteLo;
  if (!(pte & 1)) cpu.pageFault(la, pfErr(acc, user, false, false));
  checkRights(cpu, la, acc, user, (pde & pte & 2) !== 0, (pde & pte & 4) !== 0, false);
  const dirty = acc === 1 ? 64 : 0;
  if ((pte & (32 | dirty)) !== (32 | dirty)) setPteBits(cpu, ptea, 32 | dirty);
  return ((pte & 4294963200) >>> 0) + (la & 4095);
}
function tlbEntry(cpu, la, acc) {
  const tlb = cpu.tlb;
  const user = cpu.s.cpl === 3;
  if (user !== tlb.user) {
    tlb.flush();
    tlb.user = user;
  }
  const lpage = linearPage(la);
  const i = slot(lpage);
  if (tlb.tag[i] === lpage && (acc !== 1 || tlb.writable[i]) && (acc !== 2 || tlb.executable[i]))
    return i;
  const gpa = translate(cpu, la, acc, user);
  const gpaPage = gpa - gpa % 4096;
  const page = cpu.physPage(gpa, acc === 1);
  tlb.tag[i] = lpage;
  tlb.gpaPage[i] = gpaPage;
  tlb.bytes[i] = page;
  tlb.view[i] = new DataView(page.buffer, page.byteOffset, page.byteLength);
  tlb.writable[i] = acc === 1 && !cpu.blocks.hasCode(gpaPage) ? 1 : 0;
  tlb.executable[i] = acc === 2 ? 1 : 0;
  return i;
}
function readLinear(cpu, la, size) {
  const off = pageOffset(la);
  if (off + size > 4096) return readSplit(cpu, la, size);
  const i = tlbEntry(cpu, la, 0);
  const v = cpu.tlb.view[i];
  switch (size) {
    case 1:
      cpu.hi = 0;
      return v.getUint8(off);
    case 2:
      cpu.hi = 0;
      return v.getUint16(off, true);
    case 4:
      cpu.hi = 0;
      return v.getUint32(off, true);
    default:
      cpu.hi = v.getUint32(off + 4, true);
      return v.getUint32(off, true);
  }
}
function readSplit(cpu, la, size) {
  let lo = 0;
  let hi = 0;
  for (let k = 0; k < size; k++) {
    const a = la + k;
    const i = tlbEntry(cpu, a, 0);
    const b = cpu.tlb.bytes[i][pageOffset(a)];
    if (k < 4) lo |= b << 8 * k;
    else hi |= b << 8 * (k - 4);
  }
  cpu.hi = hi >>> 0;
  return lo >>> 0;
}
function writeLinear(cpu, la, size, lo, hi) {
  const off = pageOffset(la);
  if (off + size > 4096) {
    tlbEntry(cpu, la, 1);
    tlbEntry(cpu, la + size - 1, 1);
    for (let k = 0; k < size; k++) {
      const a = la + k;
      const i2 = tlbEntry(cpu, a, 1);
      const b = k < 4 ? lo >>> 8 * k : hi >>> 8 * (k - 4);
      writeByte(cpu, i2, pageOffset(a), b & 255);
    }
    return;
  }
  const i = tlbEntry(cpu, la, 1);
  if (!cpu.tlb.writable[i]) cpu.blocks.invalidatePage(cpu.tlb.gpaPage[i]);
  const v = cpu.tlb.view[i];
  switch (size) {
    case 1:
      v.setUint8(off, lo);
      return;
    case 2:
      v.setUint16(off, lo, true);
      return;
    case 4:
      v.setUint32(off, lo >>> 0, true);
      return;
    default:
      v.setUint32(off, lo >>> 0, true);
      v.setUint32(off + 4, hi >>> 0, true);
  }
}
function writeByte(cpu, i, off, b) {
  if (!cpu.tlb.writable[i]) cpu.blocks.invalidatePage(cpu.tlb.gpaPage[i]);
  cpu.tlb.bytes[i][off] = b;
}

// src/cpu/x86/state.ts
const SEG_ES = 0;
const SEG_CS = 1;
const SEG_SS = 2;
const SEG_DS = 3;
const SEG_FS = 4;
const SEG_GS = 5;
const TWO326 = 4294967296;
function hi32(v) {
  return Math.floor((v - (v >>> 0)) / 4294967296) >>> 0;
}
function getS64(save, off) {
  return save.getInt32(off + 4, true) * 4294967296 + save.getUint32(off, true);
}
function setS64(save, off, v) {
  const lo = v >>> 0;
  save.setUint32(off, lo, true);
  save.setInt32(off + 4, Math.floor((v - lo) / 4294967296) | 0, true);
}
const X86State = class {
  /** The register array (RAX..R15 as u32 pairs; see src/cpu/regs.ts). */
  regs;
  rip = 0;
  /** RFLAGS as a u32 (bits 63:32 are reserved, always 0). */
  rflags = 2;
  cpl = 0;
  cr0 = 0;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  efer = 0;
  dr6 = 0;
  dr7 = 0;
  /** ES, CS, SS, DS, FS, GS: selector, hidden base, limit, attributes (the save area's packed form). */
  segSel = new Uint16Array(6);
  segBase = new Float64Array(6);
  segLimit = new Uint32Array(6);
  segAttr = new Uint16Array(6);
  gdtrBase = 0;
  gdtrLimit = 0;
  idtrBase = 0;
  idtrLimit = 0;
  ldtrSel = 0;
  ldtrBase = 0;
  ldtrLimit = 0;
  ldtrAttr = 0;
  trSel = 0;
  trBase = 0;
  trLimit = 0;
  trAttr = 0;
  constructor(regs) {
    this.regs = regs;
  }
  /** The code size the CS descriptor and EFER.LMA select: 16, 32 or 64. */
  get codeSize() {
    const attr = this.segAttr[1];
    if (this.efer & EFER_LMA && attr & SVM_SELECTOR_L_MASK) return 64;
    return attr & SVM_SELECTOR_DB_MASK ? 32 : 16;
  }
  /** VMRUN: load everything but the GPRs from a save area. */
  load(save) {
    this.rip = getS64(save, 376);
    this.rflags = save.getUint32(368, true);
    this.cpl = save.getUint8(203);
    this.cr0 = save.getUint32(344, true);
    this.cr2 = getS64(save, 576);
    this.cr3 = getU64Number(save, 336);
    this.cr4 = save.getUint32(328, true);
    this.efer = save.getUint32(208, true);
    this.dr6 = save.getUint32(360, true);
    this.dr7 = save.getUint32(352, true);
    for (let s = 0; s < 6; s++) {
      const off = 0 + 16 * s;
      this.segSel[s] = save.getUint16(off, true);
      this.segAttr[s] = save.getUint16(off + 2, true);
      this.segLimit[s] = save.getUint32(off + 4, true);
      this.segBase[s] = getS64(save, off + 8);
    }
    this.gdtrLimit = save.getUint32(96 + 4, true);
    this.gdtrBase = getS64(save, 96 + 8);
    this.idtrLimit = save.getUint32(128 + 4, true);
    this.idtrBase = getS64(save, 128 + 8);
    this.ldtrSel = save.getUint16(112, true);
    this.ldtrAttr = save.getUint16(112 + 2, true);
    this.ldtrLimit = save.getUint32(112 + 4, true);
    this.ldtrBase = getS64(save, 112 + 8);
    this.trSel = save.getUint16(144, true);
    this.trAttr = save.getUint16(144 + 2, true);
    this.trLimit = save.getUint32(144 + 4, true);
    this.trBase = getS64(save, 144 + 8);
  }
  /** #VMEXIT: store everything but the GPRs into a save area. */
  store(save) {
    setS64(save, 376, this.rip);
    save.setUint32(368, this.rflags >>> 0, true);
    save.setUint32(368 + 4, 0, true);
    save.setUint8(203, this.cpl);
    save.setUint32(344, this.cr0 >>> 0, true);
    setS64(save, 576, this.cr2);
    setS64(save, 336, this.cr3);
    save.setUint32(328, this.cr4 >>> 0, true);
    save.setUint32(208, this.efer >>> 0, true);
    save.setUint32(360, this.dr6 >>> 0, true);
    save.setUint32(352, this.dr7 >>> 0, true);
    for (let s = 0; s < 6; s++) {
      const off = 0 + 16 * s;
      save.setUint16(off, this.segSel[s], true);
      save.setUint16(off + 2, this.segAttr[s], true);
      save.setUint32(off + 4, this.segLimit[s], true);
      setS64(save, off + 8, this.segBase[s]);
    }
    save.setUint32(96 + 4, this.gdtrLimit >>> 0, true);
    setS64(save, 96 + 8, this.gdtrBase);
    save.setUint32(128 + 4, this.idtrLimit >>> 0, true);
    setS64(save, 128 + 8, this.idtrBase);
    save.setUint16(112, this.ldtrSel, true);
    save.setUint16(112 + 2, this.ldtrAttr, true);
    save.setUint32(112 + 4, this.ldtrLimit >>> 0, true);
    setS64(save, 112 + 8, this.ldtrBase);
    save.setUint16(144, this.trSel, true);
    save.setUint16(144 + 2, this.trAttr, true);
    save.setUint32(144 + 4, this.trLimit >>> 0, true);
    setS64(save, 144 + 8, this.trBase);
  }
};

// src/cpu/x86/operands.ts
const TWO327 = 4294967296;
function readReg(cpu, r, size) {
  const regs = cpu.s.regs;
  if (size === 8) {
    cpu.hi = regs[2 * r + 1];
    return regs[2 * r];
  }
  cpu.hi = 0;
  if (size === 4) return regs[2 * r];
  if (size === 2) return regs[2 * r] & 65535;
  if (r >= 16) return regs[2 * (r - 16)] >>> 8 & 255;
  return regs[2 * r] & 255;
}
function writeReg(cpu, r, size, lo, hi) {
  const regs = cpu.s.regs;
  switch (size) {
    case 8:
      regs[2 * r] = lo;
      regs[2 * r + 1] = hi;
      return;
    case 4:
      regs[2 * r] = lo;
      regs[2 * r + 1] = 0;
      return;
    case 2:
      regs[2 * r] = (regs[2 * r] & 4294901760 | lo & 65535) >>> 0;
      return;
    default:
      if (r >= 16) {
        const k = 2 * (r - 16);
        regs[k] = (regs[k] & 4294902015 | (lo & 255) << 8) >>> 0;
      } else regs[2 * r] = (regs[2 * r] & 4294967040 | lo & 255) >>> 0;
  }
}
function regValue(cpu, r, asize) {
  const regs = cpu.s.regs;
  const lo = regs[2 * r];
  if (asize === 8) return (regs[2 * r + 1] | 0) * 4294967296 + lo;
  return asize === 4 ? lo : lo & 65535;
}
function effectiveAddress64(cpu, i) {
  const r = cpu.s.regs;
  const d = i.ripRel ? i.mdisp + cpu.nextRip : i.mdisp;
  let lo = d >>> 0;
  let hi = Math.floor((d - lo) / 4294967296) >>> 0;
  if (i.mbase !== (-1)) {
    const sum = lo + r[2 * i.mbase];
    lo = sum >>> 0;
    hi = hi + r[2 * i.mbase + 1] + (sum >= 4294967296 ? 1 : 0) >>> 0;
  }
  if (i.mindex !== (-1)) {
    const shift3 = i.mscale === 8 ? 3 : i.mscale === 4 ? 2 : i.mscale === 2 ? 1 : 0;
    const xl = r[2 * i.mindex];
    const xh = r[2 * i.mindex + 1];
    const sl = xl << shift3 >>> 0;
    const sh = shift3 ? (xh << shift3 | xl >>> 32 - shift3) >>> 0 : xh;
    const sum = lo + sl;
    lo = sum >>> 0;
    hi = hi + sh + (sum >= 4294967296 ? 1 : 0) >>> 0;
  }
  cpu.hi = hi;
  return lo;
}
function effectiveAddress(cpu, i) {
  const asize = i.asize;
  if (asize === 8) {
    const r = cpu.s.regs;
    const b = i.mbase;
    const x = i.mindex;
    const bh = b !== (-1) ? r[2 * b + 1] | 0 : 0;
    const xh = x !== (-1) ? r[2 * x + 1] | 0 : 0;
    if (bh > -524288 && bh < 524288 && xh > -524288 && xh < 524288) {
      let ea2 = i.ripRel ? i.mdisp + cpu.nextRip : i.mdisp;
      if (b !== (-1)) ea2 += bh * 4294967296 + r[2 * b];
      if (x !== (-1)) ea2 += (xh * 4294967296 + r[2 * x]) * i.mscale;
      return ea2;
    }
    const lo = effectiveAddress64(cpu, i);
    return (cpu.hi | 0) * 4294967296 + lo;
  }
  let ea = i.mdisp;
  if (i.mbase !== (-1)) ea += regValue(cpu, i.mbase, asize);
  if (i.mindex !== (-1)) ea += regValue(cpu, i.mindex, asize) * i.mscale;
  if (i.ripRel) ea += cpu.nextRip;
  return asize === 4 ? ea >>> 0 : ea & 65535;
}
function segmentOf(i) {
  if (i.mseg >= 0) return i.mseg;
  return i.mbase === 4 || i.mbase === 5 ? 2 : 3;
}
function linearAddress(cpu, i) {
  const ea = effectiveAddress(cpu, i);
  const s = cpu.s;
  const seg = segmentOf(i);
  if (s.codeSize === 64) return seg === 4 || seg === 5 ? ea + s.segBase[seg] : ea;
  return s.segBase[seg] + ea >>> 0;
}
function readRm0(cpu, i, size) {
  return i.r0 !== (-1) ? readReg(cpu, i.r0, size) : readLinear(cpu, linearAddress(cpu, i), size);
}
function readRm1(cpu, i, size) {
  return i.r1 !== (-1) ? readReg(cpu, i.r1, size) : readLinear(cpu, linearAddress(cpu, i), size);
}
function writeRm0(cpu, i, size, lo, hi) {
  if (i.r0 !== (-1)) writeReg(cpu, i.r0, size, lo, hi);
  else writeLinear(cpu, linearAddress(cpu, i), size, lo, hi);
}

// src/cpu/x86/ops/unimplemented.ts
function execUnimplemented(cpu, i) {
  cpu.unimplementedInsn(i.name);
}

// src/cpu/x86/compile/emit.ts
const TWO328 = 4294967296;
const EXACT_HI = 524288;
const TLB_SLOTS = 256;
const EMITTED = 1;
const EMITTED_BRANCH = 2;
function isGpr(r, size) {
  return r >= 0 && (r < 16 || size === 1 && r < 16 + 4);
}
function gprOperand(kind, r, size) {
  return kind === 1 && isGpr(r, size);
}
function readReg2(e, r, size) {
  if (size === 8) return { lo: e.word(2 * r), hi: e.word(2 * r + 1), u32: false };
  if (size === 4) return { lo: e.word(2 * r), hi: "0", u32: false };
  let lo;
  if (size === 2) lo = `${e.word(2 * r)} & 0xffff`;
  else if (r >= 16) lo = `(${e.word(2 * (r - 16))} >>> 8) & 0xff`;
  else lo = `${e.word(2 * r)} & 0xff`;
  return { lo: e.local(lo), hi: "0", u32: true };
}
function writeReg2(e, r, size, v) {
  switch (size) {
    case 8:
      e.setWord(2 * r, v.lo, !v.u32);
      e.setWord(2 * r + 1, v.hi, !v.u32);
      return;
    case 4:
      e.setWord(2 * r, v.lo, !v.u32);
      e.setWord(2 * r + 1, "0", false);
      return;
    case 2:
      e.setWord(2 * r, `((${e.word(2 * r)} & 0xffff0000) | (${v.lo} & 0xffff)) >>> 0`, false);
      return;
    default:
      if (r >= 16) {
        const w = 2 * (r - 16);
        e.setWord(w, `((${e.word(w)} & 0xffff00ff) | ((${v.lo} & 0xff) << 8)) >>> 0`, false);
      } else e.setWord(2 * r, `((${e.word(2 * r)} & 0xffffff00) | (${v.lo} & 0xff)) >>> 0`, false);
  }
}
function segmentOf2(i) {
  if (i.mseg >= 0) return i.mseg;
  return i.mbase === 4 || i.mbase === 5 ? 2 : 3;
}
function addressWords(i) {
  const out = [];
  for (const reg of [i.mbase, i.mindex]) if (reg !== (-1)) out.push(2 * reg, 2 * reg + 1);
  return out;
}
function linear(e) {
  const i = e.i;
  const la = e.name("la");
  if (e.codeSize !== 64 || i.asize !== 8) {
    e.commitWords(addressWords(i));
    if (i.ripRel) e.line(`cpu.nextRip = ${e.next};`);
    e.line(`const ${la} = linearAddress(cpu, ${e.record});`);
    return la;
  }
  const disp2 = i.ripRel ? `(${i.mdisp} + ${e.next})` : i.mdisp !== 0 ? String(i.mdisp) : "";
  const terms = [];
  const exact = [];
  for (const [reg, scale] of [
    [i.mbase, 1],
    [i.mindex, i.mscale]
  ]) {
    if (reg === (-1)) continue;
    const h = e.local(`${e.word(2 * reg + 1)} | 0`, "eh");
    exact.push(`${h} > ${-524288} && ${h} < ${524288}`);
    const v = `(${h} * ${4294967296} + ${e.wordU32(2 * reg)})`;
    terms.push(scale === 1 ? v : `${v} * ${scale}`);
  }
  const seg = segmentOf2(i);
  const base = seg === 4 || seg === 5 ? ` + s.segBase[${seg}]` : "";
  if (terms.length === 0) {
    e.line(`const ${la} = ${disp2 || "0"}${base};`);
    return la;
  }
  const sum = [disp2, ...terms].filter((t) => t !== "").reduce((acc, t) => `(${acc} + ${t})`);
  e.line(`let ${la};`);
  e.line(`if (${exact.join(" && ")}) ${la} = ${sum}${base};`);
  const spill = e.spillWords(addressWords(i));
  e.line(`else { ${spill ? `${spill} ` : ""}${la} = effectiveAddress(cpu, ${e.record})${base}; }`);
  return la;
}
function load(e, la, size) {
  const o = e.name("o");
  const p2 = e.name("p");
  const x = e.name("x");
  const lo = e.name("m");
  const hi = size === 8 ? e.name("mh") : "0";
  e.line(
    `const ${o} = ${la} & ${4096 - 1}, ${p2} = (${la} - ${o}) / ${4096}, ${x} = ${p2} & ${256 - 1};`
  );
  e.line(`let ${lo}${size === 8 ? `, ${hi}` : ""};`);
  e.line(`if (${o} <= ${4096 - size} && tag[${x}] === ${p2} && tlb.user === (s.cpl === 3)) {`);
  if (size === 8)
    e.line(`  const v = view[${x}]; ${lo} = v.getUint32(${o}, true); ${hi} = v.getUint32(${o} + 4, true);`);
  else if (size === 4) e.line(`  ${lo} = view[${x}].getUint32(${o}, true);`);
  else if (size === 2) e.line(`  ${lo} = view[${x}].getUint16(${o}, true);`);
  else e.line(`  ${lo} = view[${x}].getUint8(${o});`);
  e.line(
    `} else { ${e.sync()} ${lo} = readLinear(cpu, ${la}, ${size});${size === 8 ? ` ${hi} = cpu.hi;` : ""} }`
  );
  return { lo, hi, u32: true };
}
function store(e, la, size, v) {
  const o = e.name("o");
  const p2 = e.name("p");
  const x = e.name("x");
  e.line(
    `const ${o} = ${la} & ${4096 - 1}, ${p2} = (${la} - ${o}) / ${4096}, ${x} = ${p2} & ${256 - 1};`
  );
  e.line(
    `if (${o} <= ${4096 - size} && tag[${x}] === ${p2} && writable[${x}] !== 0 && tlb.user === (s.cpl === 3)) {`
  );
  if (size === 8)
    e.line(
      `  const w = view[${x}]; w.setUint32(${o}, ${v.lo} >>> 0, true); w.setUint32(${o} + 4, ${v.hi} >>> 0, true);`
    );
  else if (size === 4) e.line(`  view[${x}].setUint32(${o}, ${v.lo} >>> 0, true);`);
  else if (size === 2) e.line(`  view[${x}].setUint16(${o}, ${v.lo}, true);`);
  else e.line(`  view[${x}].setUint8(${o}, ${v.lo});`);
  e.line(`} else { ${e.sync()} writeLinear(cpu, ${la}, ${size}, ${v.lo}, ${v.hi}); }`);
}
function readRm(e, r, size, mem) {
  return r !== (-1) ? readReg2(e, r, size) : load(e, mem(), size);
}
function writeRm02(e, v, mem) {
  const i = e.i;
  if (i.r0 !== (-1)) writeReg2(e, i.r0, i.size, v);
  else store(e, mem(), i.size, v);
}
function immediate(i, size) {
  const lo = size === 1 ? i.immLo & 255 : size === 2 ? i.immLo & 65535 : i.immLo >>> 0;
  return { lo: String(lo), hi: String(size === 8 ? i.immHi : 0), u32: true };
}
function memoryOnce(e) {
  let la;
  return () => {
    la ??= linear(e);
    return la;
  };
}
function record2(e, kind, size, a, b, res) {
  e.setFlag("op", String(kind));
  e.setFlag("size", String(size));
  e.setFlag("aLo", a.lo);
  e.setFlag("aHi", a.hi);
  e.setFlag("bLo", b.lo);
  e.setFlag("bHi", b.hi);
  e.setFlag("resLo", res.lo);
  e.setFlag("resHi", res.hi);
}
function ltu2(aLo, aHi, bLo, bHi) {
  return `(${aHi} >>> 0 < ${bHi} >>> 0 || (${aHi} === ${bHi} && ${aLo} >>> 0 < ${bLo} >>> 0))`;
}
function addSub(e, kind, size, a, b) {
  const al = e.local(`${a.lo} | 0`, "a");
  const bl = e.local(`${b.lo} | 0`, "b");
  let lo;
  let hi = "0";
  let ah = "0";
  let bh = "0";
  if (size === 8) {
    ah = e.local(`${a.hi} | 0`, "a");
    bh = e.local(`${b.hi} | 0`, "b");
    if (kind === 1) {
      const t = e.local(`(${al} >>> 0) + (${bl} >>> 0)`, "t");
      lo = e.local(`${t} | 0`, "s");
      hi = e.local(`(${ah} + ${bh} + (${t} > 0xffffffff ? 1 : 0)) | 0`, "s");
    } else {
      lo = e.local(`(${al} - ${bl}) | 0`, "s");
      hi = e.local(`(${ah} - ${bh} - (${al} >>> 0 < ${bl} >>> 0 ? 1 : 0)) | 0`, "s");
    }
  } else lo = e.local(`(${al} ${kind === 1 ? "+" : "-"} ${bl}) | 0`, "s");
  const res = { lo, hi, u32: false };
  record2(e, kind, size, { lo: al, hi: ah, u32: false }, { lo: bl, hi: bh, u32: false }, res);
  e.flags = { kind, size, aLo: al, aHi: ah, bLo: bl, bHi: bh, lo, hi };
  return res;
}
function logic2(e, op, size, a, b) {
  const lo = e.local(`${a.lo} ${op} ${b.lo}`, "l");
  const hi = size === 8 ? e.local(`${a.hi} ${op} ${b.hi}`, "l") : "0";
  e.setFlag("op", String(5));
  e.setFlag("size", String(size));
  e.setFlag("resLo", lo);
  e.setFlag("resHi", hi);
  e.flags = { kind: 5, size, aLo: "", aHi: "", bLo: "", bHi: "", lo, hi };
  return { lo, hi, u32: false };
}
function knownCarry(k) {
  if (k.kind === 3) return ltu2(k.aLo, k.aHi, k.bLo, k.bHi);
  if (k.kind === 1) return ltu2(k.lo, k.hi, k.aLo, k.aHi);
  return "false";
}
function aluCall(e, call2) {
  e.commitFlags();
  e.line(`${call2};`);
  e.flags = void 0;
  return { lo: e.local("f.resLo", "q"), hi: e.local("f.resHi", "q"), u32: false };
}
const BINARY = /* @__PURE__ */ new Map([
  ["Add", { fn: "add", store: true, inline: "add" }],
  ["Adc", { fn: "adc", store: true }],
  ["Sub", { fn: "sub", store: true, inline: "sub" }],
  ["Sbb", { fn: "sbb", store: true }],
  ["Cmp", { fn: "cmp", store: false, inline: "sub" }],
  ["And", { fn: "and", store: true, inline: "&" }],
  ["Or", { fn: "or", store: true, inline: "|" }],
  ["Xor", { fn: "xor", store: true, inline: "^" }],
  ["Test", { fn: "test", store: false, inline: "&" }]
]);
function binary(e) {
  const i = e.i;
  const op = BINARY.get(i.name);
  const size = i.size;
  const mem = memoryOnce(e);
  let a;
  let b;
  if (i.kind1 === 3) {
    if (i.kind0 !== 2 && !gprOperand(i.kind0, i.r0, size)) return void 0;
    a = readRm(e, i.r0, size, mem);
    b = immediate(i, size);
  } else if (i.kind0 === 1 && i.kind1 === 2) {
    if (!isGpr(i.r0, size)) return void 0;
    b = load(e, mem(), size);
    a = readReg2(e, i.r0, size);
  } else if (i.kind1 === 1 && (i.kind0 === 2 || i.kind0 === 1)) {
    if (!isGpr(i.r1, size) || i.kind0 === 1 && !isGpr(i.r0, size)) return void 0;
    b = readReg2(e, i.r1, size);
    a = readRm(e, i.r0, size, mem);
  } else return void 0;
  let res;
  if (op.inline && (size === 4 || size === 8)) {
    res = op.inline === "add" ? addSub(e, 1, size, a, b) : op.inline === "sub" ? addSub(e, 3, size, a, b) : logic2(e, op.inline, size, a, b);
  } else res = aluCall(e, `alu.${op.fn}(f, ${size}, ${a.lo}, ${a.hi}, ${b.lo}, ${b.hi})`);
  if (op.store) writeRm02(e, res, mem);
  return 1;
}
function unary(e) {
  const i = e.i;
  const size = i.size;
  if (i.kind0 !== 2 && !gprOperand(i.kind0, i.r0, size)) return void 0;
  const mem = memoryOnce(e);
  const a = readRm(e, i.r0, size, mem);
  if (i.name === "Not") {
    const mask = size === 1 ? 255 : size === 2 ? 65535 : 4294967295;
    writeRm02(
      e,
      { lo: e.local(`~${a.lo} & ${mask}`), hi: size === 8 ? e.local(`~${a.hi} >>> 0`) : "0", u32: false },
      mem
    );
    return 1;
  }
  if ((i.name === "Inc" || i.name === "Dec") && (size === 4 || size === 8)) {
    const kind = i.name === "Inc" ? 6 : 7;
    if (e.flags) e.setFlag("carry", `${knownCarry(e.flags)} ? 1 : 0`);
    else {
      e.commitFlags();
      e.setFlag("carry", "cf(f) ? 1 : 0");
    }
    const al = e.local(`${a.lo} | 0`, "a");
    let lo;
    let hi = "0";
    let ah = "0";
    if (size === 8) {
      ah = e.local(`${a.hi} | 0`, "a");
      if (kind === 6) {
        lo = e.local(`(${al} + 1) | 0`, "n");
        hi = e.local(`(${ah} + (${lo} === 0 ? 1 : 0)) | 0`, "n");
      } else {
        lo = e.local(`(${al} - 1) | 0`, "n");
        hi = e.local(`(${ah} - (${al} === 0 ? 1 : 0)) | 0`, "n");
      }
    } else lo = e.local(`(${al} ${kind === 6 ? "+" : "-"} 1) | 0`, "n");
    const res = { lo, hi, u32: false };
    record2(e, kind, size, { lo: al, hi: ah, u32: false }, { lo: "1", hi: "0", u32: true }, res);
    e.flags = void 0;
    writeRm02(e, res, mem);
    return 1;
  }
  const fn = i.name === "Inc" ? "inc" : i.name === "Dec" ? "dec" : "neg";
  writeRm02(e, aluCall(e, `alu.${fn}(f, ${size}, ${a.lo}, ${a.hi})`), mem);
  return 1;
}
const SHIFTS = /* @__PURE__ */ new Map([
  ["Shl", "shl"],
  ["Sal", "shl"],
  ["Shr", "shr"],
  ["Sar", "sar"],
  ["Rol", "rol"],
  ["Ror", "ror"],
  ["Rcl", "rcl"],
  ["Rcr", "rcr"]
]);
function shift(e) {
  const i = e.i;
  const size = i.size;
  if (i.kind0 !== 2 && !gprOperand(i.kind0, i.r0, size)) return void 0;
  const byCl = i.kind1 === 1;
  if (!byCl && i.kind1 !== 3) return void 0;
  const mem = memoryOnce(e);
  const fn = SHIFTS.get(i.name);
  const count = i.immLo & 255;
  const n2 = size === 8 ? count & 63 : count & 31;
  const a = readRm(e, i.r0, size, mem);
  if (!byCl && n2 !== 0 && (size === 4 || size === 8) && (fn === "shl" || fn === "shr" || fn === "sar")) {
    writeRm02(e, shiftWrittenOut(e, fn, size, a, n2), mem);
    e.flags = void 0;
    return 1;
  }
  const c = byCl ? `${e.word(2)} & 0xff` : String(count);
  writeRm02(e, aluCall(e, `alu.${fn}(f, ${size}, ${a.lo}, ${a.hi}, ${c})`), mem);
  return 1;
}
function shiftWrittenOut(e, fn, size, a, n2) {
  let lo;
  let hi = "0";
  let c;
  let o;
  if (size === 8) {
    if (fn === "shl") {
      if (n2 < 32) {
        hi = e.local(`(${a.hi} << ${n2}) | (${a.lo} >>> ${32 - n2})`, "h");
        lo = e.local(`${a.lo} << ${n2}`, "h");
        c = `((${a.hi} >>> ${32 - n2}) & 1)`;
      } else {
        hi = e.local(`${a.lo} << ${n2 - 32}`, "h");
        lo = "0";
        c = n2 === 32 ? `(${a.hi} & 1)` : `((${a.lo} >>> ${64 - n2}) & 1)`;
      }
      o = `(((${a.hi} >>> 31) ^ (${a.hi} >>> 30)) & 1)`;
    } else if (fn === "shr") {
      if (n2 < 32) {
        lo = e.local(`(${a.lo} >>> ${n2}) | (${a.hi} << ${32 - n2})`, "h");
        hi = e.local(`${a.hi} >>> ${n2}`, "h");
        c = `((${a.lo} >>> ${n2 - 1}) & 1)`;
      } else {
        lo = e.local(`(${a.hi} >>> ${n2 - 32}) | 0`, "h");
        c = n2 === 32 ? `(${a.lo} >>> 31)` : `((${a.hi} >>> ${n2 - 33}) & 1)`;
      }
      o = `(${a.hi} >>> 31)`;
    } else {
      if (n2 < 32) {
        lo = e.local(`(${a.lo} >>> ${n2}) | (${a.hi} << ${32 - n2})`, "h");
        hi = e.local(`${a.hi} >> ${n2}`, "h");
        c = `((${a.lo} >>> ${n2 - 1}) & 1)`;
      } else {
        lo = e.local(`${a.hi} >> ${n2 - 32}`, "h");
        hi = e.local(`${a.hi} >> 31`, "h");
        c = n2 === 32 ? `(${a.lo} >>> 31)` : `((${a.hi} >>> ${n2 - 33}) & 1)`;
      }
      o = "0";
    }
  } else {
    const x = e.local(`${a.lo} & -1`, "w");
    if (fn === "shl") {
      lo = e.local(`(${x} << ${n2}) & -1`, "h");
      c = `((${x} >>> ${32 - n2}) & 1)`;
      o = `(((${x} >>> 31) ^ (${x} >>> 30)) & 1)`;
    } else if (fn === "shr") {
      lo = e.local(`${x} >>> ${n2}`, "h");
      c = `((${x} >>> ${n2 - 1}) & 1)`;
      o = `((${x} >>> 31) & 1)`;
    } else {
      lo = e.local(`(${x} >> ${n2}) & -1`, "h");
      c = `((${x} >> ${n2 - 1}) & 1)`;
      o = "0";
    }
  }
  const keep2 = ~(1 | 16 | 2048);
  e.setFlag("bits", `(${e.flag("bits")} & ${keep2}) | ${c}${o === "0" ? "" : ` | (${o} << 11)`}`);
  e.setFlag("op", String(9));
  e.setFlag("size", String(size));
  e.setFlag("resLo", lo);
  e.setFlag("resHi", hi);
  return { lo, hi, u32: false };
}
function mov(e) {
  const i = e.i;
  const size = i.size;
  const mem = memoryOnce(e);
  let v;
  if (i.kind1 === 3) {
    if (i.kind0 !== 2 && !gprOperand(i.kind0, i.r0, size)) return void 0;
    v = { lo: String(i.immLo), hi: String(size === 8 ? i.immHi : 0), u32: true };
  } else if (i.kind1 === 1 && (i.kind0 === 1 || i.kind0 === 2)) {
    if (!isGpr(i.r1, size) || i.kind0 === 1 && !isGpr(i.r0, size)) return void 0;
    v = readReg2(e, i.r1, size);
  } else if (i.kind0 === 1 && i.kind1 === 2) {
    if (!isGpr(i.r0, size)) return void 0;
    v = load(e, mem(), size);
  } else return void 0;
  writeRm02(e, v, mem);
  return 1;
}
function lea(e) {
  const i = e.i;
  if (!gprOperand(i.kind0, i.r0, i.size) || i.asize !== 8 || i.size !== 4 && i.size !== 8) return void 0;
  let lo;
  let hi;
  if (i.ripRel) {
    const d = e.local(`${i.mdisp} + ${e.next}`, "d");
    lo = e.local(`${d} >>> 0`, "e");
    hi = e.local(`Math.floor((${d} - ${lo}) / ${4294967296}) >>> 0`, "e");
  } else {
    const dlo = i.mdisp >>> 0;
    lo = String(dlo);
    hi = String(Math.floor((i.mdisp - dlo) / 4294967296) >>> 0);
  }
  for (const [reg, scale] of [
    [i.mbase, 1],
    [i.mindex, i.mscale]
  ]) {
    if (reg === (-1)) continue;
    const sh = scale === 8 ? 3 : scale === 4 ? 2 : scale === 2 ? 1 : 0;
    const xl = e.wordU32(2 * reg);
    const xh = e.wordU32(2 * reg + 1);
    const sl = sh ? e.local(`(${xl} << ${sh}) >>> 0`, "e") : xl;
    const shh = sh ? e.local(`((${xh} << ${sh}) | (${xl} >>> ${32 - sh})) >>> 0`, "e") : xh;
    const t = e.local(`${lo} + ${sl}`, "t");
    lo = e.local(`${t} >>> 0`, "e");
    hi = e.local(`(${hi} + ${shh} + (${t} >= ${4294967296} ? 1 : 0)) >>> 0`, "e");
  }
  writeReg2(e, i.r0, i.size, { lo, hi: i.size === 8 ? hi : "0", u32: true });
  return 1;
}
function extend(e) {
  const i = e.i;
  const n2 = i.imm2;
  if (!gprOperand(i.kind0, i.r0, i.size) || n2 !== 1 && n2 !== 2 && n2 !== 4 && n2 !== 8) return void 0;
  if (i.kind1 !== 2 && !gprOperand(i.kind1, i.r1, n2)) return void 0;
  const src = readRm(e, i.r1, n2, memoryOnce(e));
  let lo = src.lo;
  let hi = "0";
  if (i.name !== "Movzx") {
    const bits = 8 * n2;
    const x = e.local(n2 < 4 ? `(${src.lo} << ${32 - bits}) >> ${32 - bits}` : src.lo, "x");
    hi = n2 === 8 ? src.hi : e.local(`${x} & 0x80000000 ? 0xffffffff : 0`, "x");
    lo = e.local(`${x} >>> 0`, "x");
  }
  writeReg2(e, i.r0, i.size, {
    lo: i.size === 2 ? e.local(`${lo} & 0xffff`) : lo,
    hi: i.size === 8 ? hi : "0",
    u32: src.u32 || i.name !== "Movzx"
  });
  return 1;
}
function rsp(e) {
  return e.local(`(${e.word(9)} | 0) * ${4294967296} + ${e.wordU32(8)}`, "sp");
}
function setRsp(e, sp) {
  e.setWord(8, `${sp} >>> 0`, false);
  e.setWord(9, `Math.floor((${sp} - (${sp} >>> 0)) / ${4294967296}) >>> 0`, false);
}
function push8(e, v) {
  const sp = e.local(`${rsp(e)} - 8`, "sp");
  store(e, sp, 8, v);
  setRsp(e, sp);
}
function pop8(e) {
  const sp = rsp(e);
  const v = load(e, sp, 8);
  setRsp(e, e.local(`${sp} + 8`, "sp"));
  return v;
}
function push(e) {
  const i = e.i;
  if (e.codeSize !== 64 || i.size !== 8) return void 0;
  let v;
  if (i.kind0 === 3) v = { lo: String(i.immLo), hi: String(i.immHi), u32: true };
  else if (gprOperand(i.kind0, i.r0, 8)) v = readReg2(e, i.r0, 8);
  else if (i.kind0 === 2) v = load(e, linear(e), 8);
  else return void 0;
  push8(e, v);
  return 1;
}
function pop(e) {
  const i = e.i;
  if (e.codeSize !== 64 || i.size !== 8 || !gprOperand(i.kind0, i.r0, 8)) return void 0;
  writeReg2(e, i.r0, 8, pop8(e));
  return 1;
}
function call(e) {
  const i = e.i;
  if (!e.last || e.codeSize !== 64 || i.size !== 8 || i.kind0 !== 4) return void 0;
  const next = e.local(e.next, "ra");
  push8(e, {
    lo: e.local(`${next} >>> 0`, "ra"),
    hi: e.local(`Math.floor((${next} - (${next} >>> 0)) / ${4294967296}) >>> 0`, "ra"),
    u32: true
  });
  e.target = e.local(branchTarget(e), "j");
  return 2;
}
function ret(e) {
  const i = e.i;
  if (!e.last || e.codeSize !== 64 || i.size !== 8 || i.immLo !== 0) return void 0;
  const v = pop8(e);
  e.target = e.local(`(${v.hi} | 0) * ${4294967296} + ${v.lo}`, "j");
  return 2;
}
function msb2(size, lo, hi) {
  return size === 8 ? `(${hi} >>> 31)` : `((${lo} >>> ${size * 8 - 1}) & 1)`;
}
function knownCondition(k, cc) {
  const t = cc >>> 1;
  let r;
  if (k.kind === 3 && (t === 1 || t === 3 || t >= 6)) {
    if (t === 1) r = ltu2(k.aLo, k.aHi, k.bLo, k.bHi);
    else if (t === 3) r = `!${ltu2(k.bLo, k.bHi, k.aLo, k.aHi)}`;
    else {
      const sh = 32 - (k.size << 3);
      const lt = k.size === 8 ? `(${k.aHi} < ${k.bHi} || (${k.aHi} === ${k.bHi} && ${k.aLo} >>> 0 < ${k.bLo} >>> 0))` : `((${k.aLo} << ${sh}) < (${k.bLo} << ${sh}))`;
      r = t === 6 ? lt : `(${lt} || (${k.aLo} === ${k.bLo} && ${k.aHi} === ${k.bHi}))`;
    }
  } else if (k.kind === 5) {
    const zero = `((${k.lo} | ${k.hi}) === 0)`;
    const sign = `(${msb2(k.size, k.lo, k.hi)} !== 0)`;
    if (t === 0 || t === 1) r = "false";
    else if (t === 2 || t === 3) r = zero;
    else if (t === 4 || t === 6) r = sign;
    else if (t === 7) r = `(${zero} || ${sign})`;
  } else if (t === 2) r = `((${k.lo} | ${k.hi}) === 0)`;
  else if (t === 4) r = `(${msb2(k.size, k.lo, k.hi)} !== 0)`;
  if (r === void 0) return void 0;
  return (cc & 1) === 0 ? r : `!${r}`;
}
function branchTarget(e) {
  const i = e.i;
  const t = `${e.next} + ${i.rel}`;
  return i.size === 2 ? `((${t}) & 0xffff)` : i.size === 4 ? `((${t}) >>> 0)` : `(${t})`;
}
function branch(e, conditional) {
  if (!e.last) return void 0;
  if (conditional) {
    let c = e.flags && knownCondition(e.flags, e.i.cc);
    if (c === void 0) {
      e.commitFlags();
      c = `cond(f, ${e.i.cc})`;
    }
    e.target = e.name("j");
    e.line(`const ${e.target} = ${c} ? ${branchTarget(e)} : ${e.next};`);
  } else e.target = e.local(branchTarget(e), "j");
  return 2;
}
const JCC = /* @__PURE__ */ new Set([
  "Jo",
  "Jno",
  "Jb",
  "Jae",
  "Je",
  "Jne",
  "Jbe",
  "Ja",
  "Js",
  "Jns",
  "Jp",
  "Jnp",
  "Jl",
  "Jge",
  "Jle",
  "Jg"
]);
function emitInstruction(e) {
  const name = e.i.name;
  if (BINARY.has(name)) return binary(e);
  if (SHIFTS.has(name)) return shift(e);
  switch (name) {
    case "Mov":
      return mov(e);
    case "Lea":
      return lea(e);
    case "Movzx":
    case "Movsx":
    case "Movsxd":
      return extend(e);
    case "Inc":
    case "Dec":
    case "Neg":
    case "Not":
      return unary(e);
    case "Nop":
      return 1;
    case "Push":
      return push(e);
    case "Pop":
      return pop(e);
    case "Call":
      return call(e);
    case "Ret":
      return ret(e);
    case "Jmp":
      return e.i.kind0 === 4 ? branch(e, false) : void 0;
    default:
      return JCC.has(name) && e.i.kind0 === 4 ? branch(e, true) : void 0;
  }
}

// src/cpu/x86/compile/emitter.ts
const SIMPLE = /^(-?\d+|[A-Za-z_$][\w$]*)$/;
const BlockEmitter = class {
  lines = [];
  /** The block's code size: 64-bit code computes addresses itself; other modes call operands.ts. */
  codeSize;
  /** The instruction being emitted, its index, and JS expressions of its RIP and the next one. */
  i;
  k = 0;
  rip = "";
  next = "";
  /** Whether it is the block's last instruction (a branch may then end the block itself). */
  last = false;
  /** The record of the last flag-setting instruction written out, while it is the current one. */
  flags = void 0;
  #names = 0;
  /** Register words the locals hold, by word index. */
  #known = /* @__PURE__ */ new Map();
  /** Words written in locals only, not yet stored to the register array. */
  #dirty = /* @__PURE__ */ new Set();
  /** Flag-record fields written in locals only: field → expression. */
  #pending = /* @__PURE__ */ new Map();
  /** Words and flag fields the block writes (what a loop carries from one iteration to the next). */
  written = /* @__PURE__ */ new Set();
  writtenFlags = /* @__PURE__ */ new Set();
  /** Loop-carried variables, when the block runs itself again (assemble.ts): word or field → name. */
  #carried = /* @__PURE__ */ new Map();
  #carriedFlags = /* @__PURE__ */ new Map();
  /** The JS expression of instructions completed before this run of the block body ('' or 'done + '). */
  doneBase = "";
  /** The local holding RIP after a branch that ends the block (emit.ts branch). */
  target = "";
  constructor(codeSize2) {
    this.codeSize = codeSize2;
  }
  /** A fresh local name. */
  name(prefix) {
    return `${prefix}${this.#names++}`;
  }
  line(text) {
    this.lines.push(text);
  }
  /** `expr` as a local (or the literal or name it already is), for using it more than once. */
  local(expr, prefix = "v") {
    if (SIMPLE.test(expr)) return expr;
    const n2 = this.name(prefix);
    this.line(`const ${n2} = ${expr};`);
    return n2;
  }
  // ---- registers
  /** Register word `w` (any representation: for bitwise use), loaded into a local once. */
  word(w) {
    return this.#word(w).expr;
  }
  /** Register word `w` as a u32 (for arithmetic on addresses). */
  wordU32(w) {
    const x = this.#word(w);
    return x.signed ? `(${x.expr} >>> 0)` : x.expr;
  }
  #word(w) {
    let x = this.#known.get(w);
    if (!x) {
      const n2 = this.name("r");
      this.line(`const ${n2} = r[${w}];`);
      x = { expr: n2, signed: false };
      this.#known.set(w, x);
    }
    return x;
  }
  /** Write register word `w`: `signed` when `expr` is an int32 bit pattern rather than a u32. */
  setWord(w, expr, signed2) {
    this.#known.set(w, { expr: this.local(expr, "r"), signed: signed2 });
    this.#dirty.add(w);
    this.written.add(w);
  }
  /** The register words the locals hold (every word the block read or wrote so far). */
  knownWords() {
    return [...this.#known.keys()];
  }
  /** Statements storing the given words if they are only in locals (for a path that reads them). */
  spillWords(words2) {
    return words2.filter((w) => this.#dirty.has(w)).map((w) => `r[${w}] = ${this.#known.get(w).expr};`).join(" ");
  }
  /** Store the given words if they are only in locals (before a call that reads them). */
  commitWords(words2) {
    for (const w of words2) if (this.#dirty.delete(w)) this.line(`r[${w}] = ${this.#known.get(w).expr};`);
  }
  // ---- flags
  /** Write a field of the lazy-flags record. */
  setFlag(field, expr) {
    this.#pending.set(field, this.local(expr, "f"));
    this.writtenFlags.add(field);
  }
  /** A field of the lazy-flags record as the program has it now. */
  flag(field) {
    return this.#pending.get(field) ?? `f.${field}`;
  }
  // ---- making the state visible
  /** Statements storing what only the locals hold (for a path that leaves or may throw). */
  spill() {
    const out = [];
    for (const w of this.#dirty) out.push(`r[${w}] = ${this.#known.get(w).expr};`);
    for (const [field, v] of this.#pending) out.push(`f.${field} = ${v};`);
    return out.join(" ");
  }
  /** Store what only the locals hold, here on the main path. */
  commit() {
    const s = this.spill();
    if (s) this.line(s);
    this.#dirty.clear();
    this.#pending.clear();
  }
  /** Store pending flag fields only (before a helper reads cpu.f). */
  commitFlags() {
    const out = [];
    for (const [field, v] of this.#pending) out.push(`f.${field} = ${v};`);
    if (out.length) this.line(out.join(" "));
    this.#pending.clear();
  }
  /** After code that may have written registers or flags: the locals know nothing any more. */
  forget() {
    if (this.#dirty.size || this.#pending.size) throw new Error("forget() with state only in locals");
    this.#known.clear();
    this.flags = void 0;
  }
  /**
   * The state the interpreter would have when this instruction starts, on a path about to call
   * something that may throw: registers and flags stored, RIP at the instruction, cpu.nextRip
   * after it, and the count of completed instructions where cpu.ts's catch finds it.
   */
  sync() {
    const spill = this.spill();
    return `${spill ? `${spill} ` : ""}s.rip = ${this.rip}; cpu.nextRip = ${this.next}; cpu.compiledDone = ${this.doneBase}${this.k};`;
  }
  // ---- a block that runs itself again (assemble.ts): state carried around the loop in variables
  /**
   * Declarations of the loop-carried variables (before the loop): each register word the body
   * touches and each flag field it writes, loaded once; the body starts from them, the written ones
   * counted as only in locals (a spill stores them, harmlessly when unchanged).
   */
  enterLoop(words2, written, fields) {
    const decls = [];
    for (const w of words2) {
      const v = `c${w}`;
      decls.push(`let ${v} = r[${w}] | 0;`);
      this.#carried.set(w, v);
      this.#known.set(w, { expr: v, signed: true });
      if (written.has(w)) this.#dirty.add(w);
    }
    for (const field of fields) {
      const v = `c_${field}`;
      decls.push(`let ${v} = f.${field};`);
      this.#carriedFlags.set(field, v);
      this.#pending.set(field, v);
    }
    return decls.join(" ");
  }
  /**
   * The loop's back edge: the carried variables take this iteration's values (through temporaries:
   * one carried variable's new value may be another's old one), and the body starts over from them.
   */
  backEdge() {
    const temps = [];
    const sets = [];
    const carry = (v, value) => {
      if (value === v) return;
      const t = this.name("n");
      temps.push(`const ${t} = ${value};`);
      sets.push(`${v} = ${t};`);
    };
    for (const [w, v] of this.#carried) {
      const x = this.#known.get(w);
      carry(v, x.signed ? x.expr : `${x.expr} | 0`);
    }
    for (const [field, v] of this.#carriedFlags) carry(v, this.#pending.get(field) ?? `f.${field}`);
    return [...temps, ...sets].join(" ");
  }
  /** The record of this instruction, for calls of interpreter functions that take one. */
  get record() {
    return `I${this.k}`;
  }
};

// src/cpu/x86/compile/assemble.ts
const RUNTIME = { alu: alu_exports, cf, cond, readLinear, writeLinear, effectiveAddress, linearAddress };
function wrapOf(codeSize2) {
  return codeSize2 === 64 ? 0 : codeSize2 === 32 ? 4294967296 : 65536;
}
function emitBody(b, e) {
  const insns = b.insns;
  const n2 = insns.length;
  const wrap = wrapOf(b.codeSize);
  const out = [];
  let inline = true;
  let base = "rip";
  let off = 0;
  let cur = "rip";
  for (let k = 0; k < n2; k++) {
    const i = insns[k];
    e.lines.length = 0;
    e.i = i;
    e.k = k;
    e.last = k === n2 - 1;
    if (wrap) {
      const next = e.name("next");
      e.line(`let ${next} = ${cur} + ${i.len}; if (${next} >= ${wrap}) ${next} -= ${wrap};`);
      e.rip = cur;
      e.next = next;
      cur = next;
    } else {
      e.rip = off ? `(${base} + ${off})` : base;
      e.next = `(${base} + ${off + i.len})`;
      off += i.len;
    }
    out.push(`// ${k}: ${i.name}`);
    const emitted = i.exec === execUnimplemented ? void 0 : emitInstruction(e);
    if (emitted === void 0) {
      inline = false;
      e.commit();
      e.line(e.sync());
      e.line(`if (exec${k}(cpu, I${k}) !== ${0}) return ${e.doneBase}${k};`);
      e.forget();
      if (e.last) e.line("s.rip = cpu.nextRip;");
      else {
        const after = e.name("rip");
        e.line(`const ${after} = cpu.nextRip;`);
        cur = after;
        base = after;
        off = 0;
      }
    } else if (e.last && emitted !== 2) {
      inline = false;
      e.line(`cpu.nextRip = ${e.next}; s.rip = ${e.next};`);
    }
    out.push(...e.lines);
  }
  return { lines: out, inline };
}
function branchesToItself(b) {
  const last = b.insns.at(-1);
  const bytes = b.insns.reduce((n2, i) => n2 + i.len, 0);
  return bytes + last.rel === 0;
}
const PROLOGUE = [
  "const s = cpu.s, r = s.regs, f = cpu.f, tlb = cpu.tlb, tag = tlb.tag, view = tlb.view, writable = tlb.writable;",
  "const rip = s.rip;"
];
function blockSource(b) {
  const n2 = b.insns.length;
  const head = [
    "'use strict';",
    `const { ${Object.keys(RUNTIME).join(", ")} } = rt;`,
    ...b.insns.map((_, k) => `const I${k} = I[${k}], exec${k} = I${k}.exec;`),
    `return function block_${b.gpa.toString(16)}_${b.codeSize}(cpu, remaining) {`,
    ...PROLOGUE
  ];
  const e = new BlockEmitter(b.codeSize);
  const plain = emitBody(b, e);
  if (!plain.inline || !branchesToItself(b)) {
    e.lines.length = 0;
    if (e.target) e.line(`cpu.nextRip = ${e.target}; s.rip = ${e.target};`);
    e.commit();
    return [...head, ...plain.lines, ...e.lines, `return ${n2};`, "};"].join("\n");
  }
  const loop3 = new BlockEmitter(b.codeSize);
  loop3.doneBase = "done + ";
  const carried = loop3.enterLoop(e.knownWords(), e.written, [
    .../* @__PURE__ */ new Set([...e.writtenFlags, "bits"])
  ]);
  const body = emitBody(b, loop3);
  const t = loop3.target;
  loop3.lines.length = 0;
  loop3.line(`done += ${n2};`);
  loop3.line(
    `if (${t} !== rip || done >= remaining || B.succ !== B || B.succRip !== ${t} || B.succGen !== tlb.generation || !B.live || B.epoch !== cpu.blocks.epoch) {`
  );
  loop3.line(`  ${loop3.spill()} cpu.nextRip = ${t}; s.rip = ${t}; return done;`);
  loop3.line("}");
  loop3.setFlag("bits", `${loop3.flag("bits")} & ${~65536}`);
  loop3.line(loop3.backEdge());
  return [...head, "let done = 0;", carried, "for (;;) {", ...body.lines, ...loop3.lines, "}", "};"].join(
    "\n"
  );
}
function compileBlock(b) {
  const factory = new Function("rt", "I", "B", blockSource(b));
  return factory(RUNTIME, b.insns, b);
}

// src/cpu/x86/compile/policy.ts
const COMPILE_THRESHOLD = 2e3;
function compiledForm(cpu, b) {
  if (!cpu.compile) return void 0;
  const c = b.compiled;
  if (c !== void 0) return c;
  if (b.runs++ < cpu.compileThreshold) return void 0;
  cpu.blocks.compiled++;
  b.compiled = compileBlock(b);
  return b.compiled;
}

// src/cpu/x86/decode.ts
import iced10 from "iced-x86";

// src/cpu/x86/ops/arith.ts
import iced from "iced-x86";

// src/cpu/x86/vectors.ts
const DE_VECTOR = 0;
const OF_VECTOR = 4;
const NM_VECTOR = 7;
const DF_VECTOR = 8;
const TS_VECTOR = 10;
const NP_VECTOR = 11;
const SS_VECTOR = 12;
const VC_VECTOR2 = 29;
function isContributory(vector) {
  return vector === 0 || vector >= 10 && vector <= 13;
}

// src/cpu/x86/ops/arith.ts
var { Mnemonic, OpKind } = iced;
function immLo(i) {
  return i.size === 1 ? i.immLo & 255 : i.size === 2 ? i.immLo & 65535 : i.immLo >>> 0;
}
function immHi(i) {
  return i.size === 8 ? i.immHi : 0;
}
function isImmediate(kind) {
  return kind >= OpKind.Immediate8 && kind <= OpKind.Immediate32to64;
}
function binary2(op, store2) {
  const rmImm = (cpu, i) => {
    const a = readRm0(cpu, i, i.size);
    op(cpu.f, i.size, a | 0, cpu.hi | 0, immLo(i) | 0, immHi(i) | 0);
    if (store2) writeRm0(cpu, i, i.size, cpu.f.resLo, cpu.f.resHi);
    return 0;
  };
  const rmReg = (cpu, i) => {
    const b = readReg(cpu, i.r1, i.size);
    const bh = cpu.hi;
    const a = readRm0(cpu, i, i.size);
    op(cpu.f, i.size, a | 0, cpu.hi | 0, b | 0, bh | 0);
    if (store2) writeRm0(cpu, i, i.size, cpu.f.resLo, cpu.f.resHi);
    return 0;
  };
  const regRm = (cpu, i) => {
    const b = readRm1(cpu, i, i.size);
    const bh = cpu.hi;
    const a = readReg(cpu, i.r0, i.size);
    op(cpu.f, i.size, a | 0, cpu.hi | 0, b | 0, bh | 0);
    if (store2) writeReg(cpu, i.r0, i.size, cpu.f.resLo, cpu.f.resHi);
    return 0;
  };
  const regReg64 = (cpu, i) => {
    const r = cpu.s.regs;
    const d = 2 * i.r0;
    const s = 2 * i.r1;
    const f = cpu.f;
    op(f, 8, r[d] | 0, r[d + 1] | 0, r[s] | 0, r[s + 1] | 0);
    if (store2) {
      r[d] = f.resLo;
      r[d + 1] = f.resHi;
    }
    return 0;
  };
  const regReg32 = (cpu, i) => {
    const r = cpu.s.regs;
    const d = 2 * i.r0;
    const f = cpu.f;
    op(f, 4, r[d] | 0, 0, r[2 * i.r1] | 0, 0);
    if (store2) {
      r[d] = f.resLo;
      r[d + 1] = 0;
    }
    return 0;
  };
  const regImm64 = (cpu, i) => {
    const r = cpu.s.regs;
    const d = 2 * i.r0;
    const f = cpu.f;
    op(f, 8, r[d] | 0, r[d + 1] | 0, i.immLo | 0, i.immHi | 0);
    if (store2) {
      r[d] = f.resLo;
      r[d + 1] = f.resHi;
    }
    return 0;
  };
  const regImm32 = (cpu, i) => {
    const r = cpu.s.regs;
    const d = 2 * i.r0;
    const f = cpu.f;
    op(f, 4, r[d] | 0, 0, i.immLo | 0, 0);
    if (store2) {
      r[d] = f.resLo;
      r[d + 1] = 0;
    }
    return 0;
  };
  return (ins, rec) => {
    const wide = rec.size === 8 || rec.size === 4;
    if (isImmediate(ins.op1Kind)) {
      if (wide && rec.r0 >= 0 && rec.r0 < 16) return rec.size === 8 ? regImm64 : regImm32;
      return rmImm;
    }
    if (ins.op0Kind === OpKind.Register && ins.op1Kind === OpKind.Register) {
      if (rec.r1 < 0) return void 0;
      if (wide) return rec.size === 8 ? regReg64 : regReg32;
      return rmReg;
    }
    if (ins.op0Kind === OpKind.Register) return regRm;
    return rec.r1 >= 0 ? rmReg : void 0;
  };
}
function unary2(op) {
  const exec = (cpu, i) => {
    const a = readRm0(cpu, i, i.size);
    op(cpu.f, i.size, a | 0, cpu.hi | 0);
    writeRm0(cpu, i, i.size, cpu.f.resLo, cpu.f.resHi);
    return 0;
  };
  return () => exec;
}
const notExec = (cpu, i) => {
  const a = readRm0(cpu, i, i.size);
  const mask = i.size === 1 ? 255 : i.size === 2 ? 65535 : 4294967295;
  writeRm0(cpu, i, i.size, ~a & mask, i.size === 8 ? ~cpu.hi >>> 0 : 0);
  return 0;
};
function shift2(op) {
  return (ins) => {
    const byCl = ins.op1Kind === OpKind.Register;
    return (cpu, i) => {
      const count = byCl ? readReg(cpu, 1, 1) : i.immLo & 255;
      const a = readRm0(cpu, i, i.size);
      op(cpu.f, i.size, a | 0, cpu.hi | 0, count);
      writeRm0(cpu, i, i.size, cpu.f.resLo, cpu.f.resHi);
      return 0;
    };
  };
}
function doubleShift(op) {
  return (ins) => {
    const byCl = ins.op2Kind === OpKind.Register;
    return (cpu, i) => {
      const count = byCl ? readReg(cpu, 1, 1) : i.immLo & 255;
      const b = readReg(cpu, i.r1, i.size);
      const bh = cpu.hi;
      const a = readRm0(cpu, i, i.size);
      op(cpu.f, i.size, a, cpu.hi, b, bh, count);
      writeRm0(cpu, i, i.size, cpu.f.resLo, cpu.f.resHi);
      return 0;
    };
  };
}
function bitString(op, store2) {
  return (cpu, i) => {
    const size = i.size;
    const bits = size << 3;
    const lo = readReg(cpu, i.r1, size);
    const off = size === 8 ? (cpu.hi | 0) * 4294967296 + lo : size === 4 ? lo | 0 : lo << 16 >> 16;
    const la = linearAddress(cpu, i) + Math.floor(off / bits) * size;
    const at = cpu.s.codeSize === 64 ? la : la >>> 0;
    const a = readLinear(cpu, at, size);
    op(cpu.f, size, a, cpu.hi, lo & bits - 1);
    if (store2) writeLinear(cpu, at, size, cpu.f.resLo, cpu.f.resHi);
    return 0;
  };
}
function bitTest2(op, store2) {
  return (ins) => {
    const imm = isImmediate(ins.op1Kind);
    if (!imm && ins.op0Kind !== OpKind.Register) return bitString(op, store2);
    return (cpu, i) => {
      const bit = imm ? i.immLo & 255 : readReg(cpu, i.r1, i.size);
      const a = readRm0(cpu, i, i.size);
      op(cpu.f, i.size, a, cpu.hi, bit);
      if (store2) writeRm0(cpu, i, i.size, cpu.f.resLo, cpu.f.resHi);
      return 0;
    };
  };
}
function bitScan(op) {
  return () => (cpu, i) => {
    const a = readRm1(cpu, i, i.size);
    op(cpu.f, i.size, a, cpu.hi);
    if (a !== 0 || cpu.hi !== 0) writeReg(cpu, i.r0, i.size, cpu.f.resLo, cpu.f.resHi);
    return 0;
  };
}
function multiplyWide(op) {
  return () => (cpu, i) => {
    const b = readRm0(cpu, i, i.size);
    const bh = cpu.hi;
    const a = readReg(cpu, 0, i.size);
    op(cpu.f, i.size, a, cpu.hi, b, bh);
    const f = cpu.f;
    if (i.size === 1) writeReg(cpu, 0, 2, f.resLo & 255 | (f.hiLo & 255) << 8, 0);
    else {
      writeReg(cpu, 0, i.size, f.resLo, f.resHi);
      writeReg(cpu, 2, i.size, f.hiLo, f.hiHi);
    }
    return 0;
  };
}
const imulTwo = (ins) => {
  const three = ins.opCount === 3;
  return (cpu, i) => {
    const b = three ? immLo(i) : readRm1(cpu, i, i.size);
    const bh = three ? immHi(i) : cpu.hi;
    const a = three ? readRm1(cpu, i, i.size) : readReg(cpu, i.r0, i.size);
    imul2(cpu.f, i.size, a, cpu.hi, b, bh);
    writeReg(cpu, i.r0, i.size, cpu.f.resLo, cpu.f.resHi);
    return 0;
  };
};
function divide(op) {
  return () => (cpu, i) => {
    const d = readRm0(cpu, i, i.size);
    const dh = cpu.hi;
    let lo0;
    let hi0;
    let lo1;
    let hi1;
    if (i.size === 1) {
      const ax = readReg(cpu, 0, 2);
      lo0 = ax & 255;
      hi0 = 0;
      lo1 = ax >>> 8;
      hi1 = 0;
    } else {
      lo0 = readReg(cpu, 0, i.size);
      hi0 = cpu.hi;
      lo1 = readReg(cpu, 2, i.size);
      hi1 = cpu.hi;
    }
    if (!op(cpu.f, i.size, lo0, hi0, lo1, hi1, d, dh)) cpu.raise({ vector: 0 });
    const f = cpu.f;
    if (i.size === 1) writeReg(cpu, 0, 2, f.resLo & 255 | (f.hiLo & 255) << 8, 0);
    else {
      writeReg(cpu, 0, i.size, f.resLo, f.resHi);
      writeReg(cpu, 2, i.size, f.hiLo, f.hiHi);
    }
    return 0;
  };
}
const setcc = () => (cpu, i) => {
  writeRm0(cpu, i, 1, cond(cpu.f, i.cc) ? 1 : 0, 0);
  return 0;
};
const cmovcc = () => (cpu, i) => {
  const v = readRm1(cpu, i, i.size);
  const vh = cpu.hi;
  if (cond(cpu.f, i.cc)) writeReg(cpu, i.r0, i.size, v, vh);
  else if (i.size === 4) writeReg(cpu, i.r0, 4, readReg(cpu, i.r0, 4), 0);
  return 0;
};
const xadd = (_ins, rec) => {
  if (rec.r1 === (-1)) return void 0;
  return (cpu, i) => {
    const b = readReg(cpu, i.r1, i.size);
    const bh = cpu.hi;
    const a = readRm0(cpu, i, i.size);
    const ah = cpu.hi;
    add(cpu.f, i.size, a, ah, b, bh);
    writeRm0(cpu, i, i.size, cpu.f.resLo, cpu.f.resHi);
    writeReg(cpu, i.r1, i.size, a, ah);
    if (i.r0 === i.r1) writeReg(cpu, i.r0, i.size, cpu.f.resLo, cpu.f.resHi);
    return 0;
  };
};
const cmpxchg = (_ins, rec) => {
  if (rec.r1 === (-1)) return void 0;
  return (cpu, i) => {
    const d = readRm0(cpu, i, i.size);
    const dh = cpu.hi;
    const acc = readReg(cpu, 0, i.size);
    cmp(cpu.f, i.size, acc, cpu.hi, d, dh);
    if (cpu.f.resLo === 0 && cpu.f.resHi === 0) {
      const s = readReg(cpu, i.r1, i.size);
      writeRm0(cpu, i, i.size, s, cpu.hi);
    } else {
      writeRm0(cpu, i, i.size, d, dh);
      writeReg(cpu, 0, i.size, d, dh);
    }
    return 0;
  };
};
const conditions = (names, b) => names.map((n2) => [Mnemonic[n2], b]);
const CC = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];
const ARITH_BUILDERS = [
  [Mnemonic.Add, binary2(add, true)],
  [Mnemonic.Adc, binary2(adc, true)],
  [Mnemonic.Sub, binary2(sub, true)],
  [Mnemonic.Sbb, binary2(sbb, true)],
  [Mnemonic.And, binary2(and, true)],
  [Mnemonic.Or, binary2(or, true)],
  [Mnemonic.Xor, binary2(xor, true)],
  [Mnemonic.Cmp, binary2(cmp, false)],
  [Mnemonic.Test, binary2(test, false)],
  [Mnemonic.Inc, unary2(inc)],
  [Mnemonic.Dec, unary2(dec)],
  [Mnemonic.Neg, unary2(neg)],
  [Mnemonic.Not, () => notExec],
  [Mnemonic.Shl, shift2(shl)],
  [Mnemonic.Sal, shift2(shl)],
  [Mnemonic.Shr, shift2(shr)],
  [Mnemonic.Sar, shift2(sar)],
  [Mnemonic.Rol, shift2(rol)],
  [Mnemonic.Ror, shift2(ror)],
  [Mnemonic.Rcl, shift2(rcl)],
  [Mnemonic.Rcr, shift2(rcr)],
  [Mnemonic.Shld, doubleShift(shld)],
  [Mnemonic.Shrd, doubleShift(shrd)],
  [Mnemonic.Bt, bitTest2(bt, false)],
  [Mnemonic.Bts, bitTest2(bts, true)],
  [Mnemonic.Btr, bitTest2(btr, true)],
  [Mnemonic.Btc, bitTest2(btc, true)],
  [Mnemonic.Bsf, bitScan(bsf)],
  [Mnemonic.Bsr, bitScan(bsr)],
  [Mnemonic.Mul, multiplyWide(mul)],
  [
    Mnemonic.Imul,
    (ins, rec, cs) => ins.opCount === 1 ? multiplyWide(imul1)(ins, rec, cs) : imulTwo(ins, rec, cs)
  ],
  [Mnemonic.Div, divide(div)],
  [Mnemonic.Idiv, divide(idiv)],
  [Mnemonic.Xadd, xadd],
  [Mnemonic.Cmpxchg, cmpxchg],
  ...conditions(
    CC.map((c) => `Set${c}`),
    setcc
  ),
  ...conditions(
    CC.map((c) => `Cmov${c}`),
    cmovcc
  )
];

// src/cpu/x86/ops/branch.ts
import iced2 from "iced-x86";

// src/cpu/x86/segments.ts
function realMode(cpu) {
  return (cpu.s.cr0 & 1) === 0;
}
function readDescriptor(cpu, sel) {
  const s = cpu.s;
  const index = sel & 65528;
  const ldt = (sel & 4) !== 0;
  const base = ldt ? s.ldtrBase : s.gdtrBase;
  const limit = ldt ? s.ldtrLimit : s.gdtrLimit;
  if (index + 7 > limit) cpu.raise({ vector: 13, errorCode: sel & 65532 });
  const saved = s.cpl;
  s.cpl = 0;
  let lo;
  let hi;
  try {
    lo = readLinear(cpu, base + index, 4);
    hi = readLinear(cpu, base + index + 4, 4);
  } finally {
    s.cpl = saved;
  }
  cpu.pteLo = lo;
  cpu.pteHi = hi;
  return unpack(lo, hi);
}
function unpack(lo, hi) {
  const attr = hi >>> 8 & 255 | (hi >>> 20 & 15) << 8;
  let limit = lo & 65535 | hi & 983040;
  if (hi & 8388608) limit = (limit << 12 | 4095) >>> 0;
  const base = (lo >>> 16 | (hi & 255) << 16 | hi & 4278190080) >>> 0;
  return { base, limit, attr };
}
function setSegment(cpu, seg, sel, d) {
  const s = cpu.s;
  s.segSel[seg] = sel;
  s.segBase[seg] = d.base;
  s.segLimit[seg] = d.limit;
  s.segAttr[seg] = d.attr & SVM_SELECTOR_S_MASK ? d.attr | 1 : d.attr;
}
function loadRealSegment(cpu, seg, sel) {
  const s = cpu.s;
  s.segSel[seg] = sel;
  s.segBase[seg] = sel * 16;
  if (seg === 1)
    s.segAttr[seg] = s.segAttr[seg] & ~1536 | SVM_SELECTOR_P_MASK | SVM_SELECTOR_S_MASK | 11;
}
function loadDataSegment(cpu, seg, sel) {
  const s = cpu.s;
  if ((sel & 65532) === 0) {
    if (seg === 2 && (s.codeSize !== 64 || (sel & 3) !== s.cpl))
      cpu.raise({ vector: 13, errorCode: 0 });
    setSegment(cpu, seg, sel, { base: 0, limit: 0, attr: 0 });
    return;
  }
  const d = readDescriptor(cpu, sel);
  const type = d.attr & 15;
  const code = (type & 8) !== 0;
  const dpl = d.attr >>> 5 & 3;
  const err = sel & 65532;
  if (!(d.attr & SVM_SELECTOR_S_MASK)) cpu.raise({ vector: 13, errorCode: err });
  if (seg === 2) {
    if (code || !(type & 2) || (sel & 3) !== s.cpl || dpl !== s.cpl)
      cpu.raise({ vector: 13, errorCode: err });
    if (!(d.attr & SVM_SELECTOR_P_MASK)) cpu.raise({ vector: 12, errorCode: err });
  } else {
    if (code && !(type & 2)) cpu.raise({ vector: 13, errorCode: err });
    if (!(d.attr & SVM_SELECTOR_P_MASK)) cpu.raise({ vector: 11, errorCode: err });
  }
  setAccessed(cpu, sel);
  setSegment(cpu, seg, sel, d);
}
function setAccessed(cpu, sel) {
  const s = cpu.s;
  const base = sel & 4 ? s.ldtrBase : s.gdtrBase;
  const at = base + (sel & 65528) + 5;
  const saved = s.cpl;
  s.cpl = 0;
  try {
    const b = readLinear(cpu, at, 1);
    if (!(b & 1)) writeLinear(cpu, at, 1, b | 1, 0);
  } finally {
    s.cpl = saved;
  }
}
function stackWidth(cpu) {
  const s = cpu.s;
  if (s.codeSize === 64) return 8;
  return s.segAttr[2] & 1024 ? 4 : 2;
}
function getRsp(cpu) {
  const r = cpu.s.regs;
  return (r[9] | 0) * 4294967296 + r[8];
}
function setRsp2(cpu, v, width) {
  const r = cpu.s.regs;
  if (width === 2) r[8] = (r[8] & 4294901760 | v & 65535) >>> 0;
  else if (width === 4) {
    r[8] = v >>> 0;
    r[9] = 0;
  } else {
    const lo = v >>> 0;
    r[8] = lo;
    r[9] = hi32(v);
  }
}
function push2(cpu, size, lo, hi, written = size) {
  const s = cpu.s;
  const width = stackWidth(cpu);
  const rsp2 = getRsp(cpu);
  const sp = width === 8 ? rsp2 - size : width === 4 ? (rsp2 >>> 0) - size >>> 0 : (rsp2 & 65535) - size & 65535;
  const la = width === 8 ? sp : s.segBase[2] + sp;
  writeLinear(cpu, la, written, lo, hi);
  setRsp2(cpu, sp, width);
}
function pop2(cpu, size) {
  const s = cpu.s;
  const width = stackWidth(cpu);
  const rsp2 = getRsp(cpu);
  const sp = width === 8 ? rsp2 : width === 4 ? rsp2 >>> 0 : rsp2 & 65535;
  const la = width === 8 ? sp : s.segBase[2] + sp;
  const lo = readLinear(cpu, la, size);
  const hi = cpu.hi;
  const next = width === 8 ? sp + size : width === 4 ? sp + size >>> 0 : sp + size & 65535;
  setRsp2(cpu, next, width);
  cpu.hi = hi;
  return lo;
}

// src/cpu/x86/ops/branch.ts
var { Mnemonic: Mnemonic2, OpKind: OpKind2 } = iced2;
const TWO329 = 4294967296;
function branchWidth(ins) {
  const k = ins.op0Kind;
  return k === OpKind2.NearBranch16 ? 2 : k === OpKind2.NearBranch32 ? 4 : 8;
}
function target(cpu, i) {
  const t = cpu.nextRip + i.rel;
  return i.size === 2 ? t & 65535 : i.size === 4 ? t >>> 0 : t;
}
function asAddress(lo, hi) {
  return (hi | 0) * 4294967296 + lo;
}
function ripHalves(v) {
  const lo = v >>> 0;
  return [lo, hi32(v)];
}
const jmpRel = (cpu, i) => {
  cpu.nextRip = target(cpu, i);
  return 0;
};
const jcc = (cpu, i) => {
  if (cond(cpu.f, i.cc)) cpu.nextRip = target(cpu, i);
  return 0;
};
const jmpIndirect = (cpu, i) => {
  const lo = readRm0(cpu, i, i.size);
  cpu.nextRip = i.size === 8 ? asAddress(lo, cpu.hi) : lo;
  return 0;
};
const callRel = (cpu, i) => {
  const [lo, hi] = ripHalves(cpu.nextRip);
  push2(cpu, i.size, lo, hi);
  cpu.nextRip = target(cpu, i);
  return 0;
};
const callIndirect = (cpu, i) => {
  const t = readRm0(cpu, i, i.size);
  const th = cpu.hi;
  const [lo, hi] = ripHalves(cpu.nextRip);
  push2(cpu, i.size, lo, hi);
  cpu.nextRip = i.size === 8 ? asAddress(t, th) : t;
  return 0;
};
const ret2 = (cpu, i) => {
  const lo = pop2(cpu, i.size);
  const t = i.size === 8 ? asAddress(lo, cpu.hi) : lo;
  if (i.immLo) {
    const width = stackWidth(cpu);
    const sp = getRsp(cpu);
    setRsp2(
      cpu,
      width === 8 ? sp + i.immLo : width === 4 ? (sp >>> 0) + i.immLo >>> 0 : (sp & 65535) + i.immLo & 65535,
      width
    );
  }
  cpu.nextRip = t;
  return 0;
};
function loop(kind) {
  return (ins, rec) => {
    const name = iced2.Code[ins.code];
    rec.imm2 = name.endsWith("RCX") ? 8 : name.endsWith("ECX") ? 4 : 2;
    rec.size = branchWidth(ins);
    return (cpu, i) => {
      const n2 = i.imm2;
      let c = readReg(cpu, 1, n2);
      let ch = cpu.hi;
      if (c === 0) {
        c = n2 === 2 ? 65535 : 4294967295;
        ch = n2 === 8 ? ch - 1 >>> 0 : 0;
      } else c = c - 1;
      writeReg(cpu, 1, n2, c, ch);
      const zero = c === 0 && ch === 0;
      const zf2 = kind === 0 ? true : cond(cpu.f, 4);
      if (!zero && (kind === 0 || (kind === 1 ? zf2 : !zf2))) cpu.nextRip = target(cpu, i);
      return 0;
    };
  };
}
const jcxz = (ins, rec) => {
  rec.imm2 = ins.mnemonic === Mnemonic2.Jrcxz ? 8 : ins.mnemonic === Mnemonic2.Jecxz ? 4 : 2;
  rec.size = branchWidth(ins);
  return (cpu, i) => {
    const c = readReg(cpu, 1, i.imm2);
    if (c === 0 && cpu.hi === 0) cpu.nextRip = target(cpu, i);
    return 0;
  };
};
function loadFarCs(cpu, sel) {
  const s = cpu.s;
  if ((sel & 65532) === 0) cpu.raise({ vector: 13, errorCode: 0 });
  const d = readDescriptor(cpu, sel);
  const err = sel & 65532;
  const type = d.attr & 31;
  if ((type & 24) !== 24) cpu.raise({ vector: 13, errorCode: err });
  const dpl = d.attr >>> 5 & 3;
  const conforming = (type & 4) !== 0;
  if (conforming ? dpl > s.cpl : (sel & 3) > s.cpl || dpl !== s.cpl)
    cpu.raise({ vector: 13, errorCode: err });
  if (!(d.attr & 128)) cpu.raise({ vector: 11, errorCode: err });
  setAccessed(cpu, sel);
  setSegment(cpu, 1, sel & 65532 | s.cpl, d);
}
function farPointer(cpu, i) {
  if (i.asize === 0) return [i.imm2, i.immLo];
  const la = linearAddress(cpu, i);
  const off = readLinear(cpu, la, i.size);
  const offHi = cpu.hi;
  const sel = readLinear(cpu, la + i.size, 2);
  return [sel, i.size === 8 ? asAddress(off, offHi) : off];
}
function farJmp(cpu, i) {
  const [sel, off] = farPointer(cpu, i);
  if (realMode(cpu)) loadRealSegment(cpu, 1, sel);
  else loadFarCs(cpu, sel);
  cpu.nextRip = off;
  return 0;
}
function farCall(cpu, i) {
  const [sel, off] = farPointer(cpu, i);
  const s = cpu.s;
  const width = i.size;
  const oldCs = s.segSel[1];
  const [rl, rh] = ripHalves(cpu.nextRip);
  if (realMode(cpu)) loadRealSegment(cpu, 1, sel);
  else loadFarCs(cpu, sel);
  push2(cpu, width, oldCs, 0);
  push2(cpu, width, rl, rh);
  cpu.nextRip = off;
  return 0;
}
function farRet(cpu, i) {
  const width = i.size;
  const lo = pop2(cpu, width);
  const hi = cpu.hi;
  const sel = pop2(cpu, width) & 65535;
  if (realMode(cpu)) loadRealSegment(cpu, 1, sel);
  else if ((sel & 3) !== cpu.s.cpl) cpu.raise({ vector: 13, errorCode: sel & 65532 });
  else loadFarCs(cpu, sel);
  cpu.nextRip = width === 8 ? asAddress(lo, hi) : lo;
  return 0;
}
function iret(cpu, i) {
  const s = cpu.s;
  if (cpu.vmcb.isIntercept(116)) return cpu.intercept(116, 0, 0, 0, 0, cpu.nextRip);
  const w = i.size;
  const ip = pop2(cpu, w);
  const ipHi = cpu.hi;
  const cs = pop2(cpu, w) & 65535;
  const flags = pop2(cpu, w);
  if (realMode(cpu)) {
    loadRealSegment(cpu, 1, cs);
    const keep2 = readRflags(cpu.f) & ~65535;
    writeRflags(cpu.f, w === 2 ? keep2 | flags & 65535 : flags);
    cpu.nextRip = ip;
    return 0;
  }
  const rpl = cs & 3;
  const outer = rpl > s.cpl || w === 8;
  let rsp2 = 0;
  let rspHi = 0;
  let ss = 0;
  if (outer) {
    rsp2 = pop2(cpu, w);
    rspHi = cpu.hi;
    ss = pop2(cpu, w) & 65535;
  }
  if (rpl < s.cpl) cpu.raise({ vector: 13, errorCode: cs & 65532 });
  const saved = s.cpl;
  s.cpl = rpl;
  try {
    loadFarCs(cpu, cs);
  } catch (e) {
    s.cpl = saved;
    throw e;
  }
  const old = readRflags(cpu.f);
  const iopl = old >>> 12 & 3;
  let mask = 2457557;
  if (saved === 0) mask |= 12288 | 1572864;
  if (saved <= iopl) mask |= 512;
  writeRflags(cpu.f, old & ~mask | flags & mask | 2);
  if (outer) {
    if ((ss & 65532) === 0 && w === 8) setSegment(cpu, 2, ss, { base: 0, limit: 0, attr: 0 });
    else setSegment(cpu, 2, ss, readDescriptor(cpu, ss));
    const r = s.regs;
    r[8] = rsp2;
    r[9] = w === 8 ? rspHi : 0;
  }
  cpu.nextRip = w === 8 ? asAddress(ip, ipHi) : ip;
  return 0;
}
function softInt(vector) {
  return () => (cpu, i) => {
    if (vector === 4 && !(readRflags(cpu.f) & 2048)) return 0;
    cpu.s.rip = cpu.nextRip;
    cpu.raise({ vector: vector ?? i.immLo & 255, soft: true });
  };
}
function near(exec) {
  return (ins, rec) => {
    rec.size = branchWidth(ins);
    return exec;
  };
}
const jmpB = (ins, rec) => {
  const k = ins.op0Kind;
  if (k === OpKind2.FarBranch16 || k === OpKind2.FarBranch32) {
    rec.size = k === OpKind2.FarBranch16 ? 2 : 4;
    rec.asize = 0;
    return farJmp;
  }
  if (/^Jmp_m16(16|32|64)/.test(iced2.Code[ins.code] ?? "")) {
    rec.size = iced2.MemorySizeExt.size(ins.memorySize) - 2;
    return farJmp;
  }
  if (k === OpKind2.Register || k === OpKind2.Memory) return jmpIndirect;
  rec.size = branchWidth(ins);
  return jmpRel;
};
const callB = (ins, rec) => {
  const k = ins.op0Kind;
  if (k === OpKind2.FarBranch16 || k === OpKind2.FarBranch32) {
    rec.size = k === OpKind2.FarBranch16 ? 2 : 4;
    rec.asize = 0;
    return farCall;
  }
  if (/^Call_m16(16|32|64)/.test(iced2.Code[ins.code] ?? "")) {
    rec.size = iced2.MemorySizeExt.size(ins.memorySize) - 2;
    return farCall;
  }
  if (k === OpKind2.Register || k === OpKind2.Memory) return callIndirect;
  rec.size = branchWidth(ins);
  return callRel;
};
const retB = (ins, rec) => {
  const name = iced2.Code[ins.code] ?? "";
  rec.size = name.startsWith("Retnw") || name.startsWith("Retfw") ? 2 : name.startsWith("Retnq") || name.startsWith("Retfq") ? 8 : 4;
  if (ins.opCount === 1) rec.immLo = ins.immediate16;
  if (name.startsWith("Retf")) {
    if (rec.immLo) return void 0;
    return farRet;
  }
  return ret2;
};
const iretB = (ins, rec) => {
  rec.size = ins.mnemonic === Mnemonic2.Iretq ? 8 : ins.mnemonic === Mnemonic2.Iretd ? 4 : 2;
  return iret;
};
const BRANCH_BUILDERS = [
  [Mnemonic2.Jmp, jmpB],
  [Mnemonic2.Call, callB],
  [Mnemonic2.Ret, retB],
  [Mnemonic2.Retf, retB],
  [Mnemonic2.Iret, iretB],
  [Mnemonic2.Iretd, iretB],
  [Mnemonic2.Iretq, iretB],
  [Mnemonic2.Loop, loop(0)],
  [Mnemonic2.Loope, loop(1)],
  [Mnemonic2.Loopne, loop(2)],
  [Mnemonic2.Jcxz, jcxz],
  [Mnemonic2.Jecxz, jcxz],
  [Mnemonic2.Jrcxz, jcxz],
  [Mnemonic2.Int, softInt(void 0)],
  [Mnemonic2.Int3, softInt(3)],
  [Mnemonic2.Into, softInt(4)],
  ...[
    Mnemonic2.Jo,
    Mnemonic2.Jno,
    Mnemonic2.Jb,
    Mnemonic2.Jae,
    Mnemonic2.Je,
    Mnemonic2.Jne,
    Mnemonic2.Jbe,
    Mnemonic2.Ja,
    Mnemonic2.Js,
    Mnemonic2.Jns,
    Mnemonic2.Jp,
    Mnemonic2.Jnp,
    Mnemonic2.Jl,
    Mnemonic2.Jge,
    Mnemonic2.Jle,
    Mnemonic2.Jg
  ].map((m) => [m, near(jcc)])
];

// src/cpu/x86/ops/data.ts
import iced4 from "iced-x86";

// src/cpu/x86/registers.ts
import iced3 from "iced-x86";
var { Register } = iced3;
function gprOperand2(reg) {
  if (reg >= Register.AL && reg <= Register.BL) return { num: reg - Register.AL, size: 1 };
  if (reg >= Register.AH && reg <= Register.BH) return { num: 16 + reg - Register.AH, size: 1 };
  if (reg >= Register.SPL && reg <= Register.R15L) return { num: 4 + reg - Register.SPL, size: 1 };
  if (reg >= Register.AX && reg <= Register.R15W) return { num: reg - Register.AX, size: 2 };
  if (reg >= Register.EAX && reg <= Register.R15D) return { num: reg - Register.EAX, size: 4 };
  if (reg >= Register.RAX && reg <= Register.R15) return { num: reg - Register.RAX, size: 8 };
  return void 0;
}
function segOperand(reg) {
  return reg >= Register.ES && reg <= Register.GS ? reg - Register.ES : -1;
}

// src/cpu/x86/ops/data.ts
var { Mnemonic: Mnemonic3, OpKind: OpKind3 } = iced4;
const movRegReg = (cpu, i) => {
  const lo = readReg(cpu, i.r1, i.size);
  writeReg(cpu, i.r0, i.size, lo, cpu.hi);
  return 0;
};
const movRm0Imm = (cpu, i) => {
  writeRm0(cpu, i, i.size, i.immLo, i.size === 8 ? i.immHi : 0);
  return 0;
};
const movRegRm = (cpu, i) => {
  const lo = readRm1(cpu, i, i.size);
  writeReg(cpu, i.r0, i.size, lo, cpu.hi);
  return 0;
};
const movRmReg = (cpu, i) => {
  const lo = readReg(cpu, i.r1, i.size);
  writeRm0(cpu, i, i.size, lo, cpu.hi);
  return 0;
};
function movToSreg(seg) {
  return (cpu, i) => {
    if (seg === 1) cpu.raise({ vector: 6 });
    const sel = readRm1(cpu, i, 2) & 65535;
    if (realMode(cpu)) loadRealSegment(cpu, seg, sel);
    else loadDataSegment(cpu, seg, sel);
    return 0;
  };
}
function loadFarPointer(seg) {
  return (cpu, i) => {
    const la = linearAddress(cpu, i);
    const off = readLinear(cpu, la, i.size);
    const offHi = cpu.hi;
    const sel = readLinear(cpu, la + i.size, 2);
    if (realMode(cpu)) loadRealSegment(cpu, seg, sel);
    else loadDataSegment(cpu, seg, sel);
    writeReg(cpu, i.r0, i.size, off, offHi);
    return 0;
  };
}
function movFromSreg(seg) {
  return (cpu, i) => {
    const sel = cpu.s.segSel[seg];
    if (i.r0 !== (-1)) writeReg(cpu, i.r0, i.size === 1 ? 2 : i.size, sel, 0);
    else writeRm0(cpu, i, 2, sel, 0);
    return 0;
  };
}
const movRegReg64 = (cpu, i) => {
  const r = cpu.s.regs;
  r[2 * i.r0] = r[2 * i.r1];
  r[2 * i.r0 + 1] = r[2 * i.r1 + 1];
  return 0;
};
const movRegReg32 = (cpu, i) => {
  const r = cpu.s.regs;
  r[2 * i.r0] = r[2 * i.r1];
  r[2 * i.r0 + 1] = 0;
  return 0;
};
const movRegMem64 = (cpu, i) => {
  const lo = readLinear(cpu, linearAddress(cpu, i), 8);
  const r = cpu.s.regs;
  r[2 * i.r0] = lo;
  r[2 * i.r0 + 1] = cpu.hi;
  return 0;
};
const movRegMem32 = (cpu, i) => {
  const lo = readLinear(cpu, linearAddress(cpu, i), 4);
  const r = cpu.s.regs;
  r[2 * i.r0] = lo;
  r[2 * i.r0 + 1] = 0;
  return 0;
};
const movMemReg64 = (cpu, i) => {
  const r = cpu.s.regs;
  writeLinear(cpu, linearAddress(cpu, i), 8, r[2 * i.r1], r[2 * i.r1 + 1]);
  return 0;
};
const movMemReg32 = (cpu, i) => {
  writeLinear(cpu, linearAddress(cpu, i), 4, cpu.s.regs[2 * i.r1], 0);
  return 0;
};
const mov2 = (ins, rec) => {
  const k0 = ins.op0Kind;
  const k1 = ins.op1Kind;
  if (k0 === OpKind3.Register && segOperand(ins.op0Register) >= 0) {
    rec.r0 = (-1);
    return movToSreg(segOperand(ins.op0Register));
  }
  if (k1 === OpKind3.Register && segOperand(ins.op1Register) >= 0) {
    rec.size = k0 === OpKind3.Register ? rec.size : 2;
    return movFromSreg(segOperand(ins.op1Register));
  }
  if (k1 >= OpKind3.Immediate8 && k1 <= OpKind3.Immediate32to64) return movRm0Imm;
  const wide = rec.size === 8 || rec.size === 4;
  if (k0 === OpKind3.Register && k1 === OpKind3.Register) {
    if (rec.r0 < 0 || rec.r1 < 0) return void 0;
    return wide ? rec.size === 8 ? movRegReg64 : movRegReg32 : movRegReg;
  }
  if (k0 === OpKind3.Register) {
    if (rec.r0 < 0) return void 0;
    return wide && k1 === OpKind3.Memory ? rec.size === 8 ? movRegMem64 : movRegMem32 : movRegRm;
  }
  if (rec.r1 < 0) return void 0;
  return wide && k0 === OpKind3.Memory ? rec.size === 8 ? movMemReg64 : movMemReg32 : movRmReg;
};
function extendBuilder(signed2) {
  return (ins, rec) => {
    const srcSize = ins.op1Kind === OpKind3.Register ? gprOperand2(ins.op1Register)?.size ?? 0 : iced4.MemorySizeExt.size(ins.memorySize);
    if (!srcSize) return void 0;
    rec.imm2 = srcSize;
    return (cpu, i) => {
      const n2 = i.imm2;
      let lo = readRm1(cpu, i, n2);
      let hi = 0;
      if (signed2) {
        const bits = 8 * n2;
        if (n2 < 4) lo = lo << 32 - bits >> 32 - bits;
        const neg2 = (n2 === 8 ? cpu.hi : lo) & 2147483648;
        hi = n2 === 8 ? cpu.hi : neg2 ? 4294967295 : 0;
        lo >>>= 0;
      }
      writeReg(cpu, i.r0, i.size, i.size === 2 ? lo & 65535 : lo, i.size === 8 ? hi : 0);
      return 0;
    };
  };
}
const lea2 = (_ins, rec) => {
  if (rec.r0 < 0) return void 0;
  return (cpu, i) => {
    if (i.asize === 8) {
      const lo = effectiveAddress64(cpu, i);
      writeReg(cpu, i.r0, i.size, lo, i.size === 8 ? cpu.hi : 0);
    } else writeReg(cpu, i.r0, i.size, effectiveAddress(cpu, i), 0);
    return 0;
  };
};
const xchg = (ins, rec) => {
  if (ins.op0Kind === OpKind3.Register && ins.op1Kind === OpKind3.Register) {
    return (cpu, i) => {
      const a = readReg(cpu, i.r0, i.size);
      const ah = cpu.hi;
      const b = readReg(cpu, i.r1, i.size);
      const bh = cpu.hi;
      writeReg(cpu, i.r0, i.size, b, bh);
      writeReg(cpu, i.r1, i.size, a, ah);
      return 0;
    };
  }
  const reg = rec.r0 >= 0 ? rec.r0 : rec.r1;
  rec.r0 = (-1);
  rec.r1 = reg;
  return (cpu, i) => {
    const m = readRm0(cpu, i, i.size);
    const mh = cpu.hi;
    const r = readReg(cpu, i.r1, i.size);
    const rh = cpu.hi;
    writeRm0(cpu, i, i.size, r, rh);
    writeReg(cpu, i.r1, i.size, m, mh);
    return 0;
  };
};
function stackOpSize(rec, codeSize2) {
  if (rec.size) return rec.size;
  return codeSize2 === 64 ? 8 : codeSize2 / 8;
}
function sregStackSize(ins) {
  const name = iced4.Code[ins.code];
  return name.startsWith("Pushq") || name.startsWith("Popq") ? 8 : name.startsWith("Pushw") || name.startsWith("Popw") ? 2 : 4;
}
const pushB = (ins, rec, codeSize2) => {
  const k = ins.op0Kind;
  if (k === OpKind3.Register && segOperand(ins.op0Register) >= 0) {
    const seg = segOperand(ins.op0Register);
    rec.size = sregStackSize(ins);
    return (cpu, i) => {
      push2(cpu, i.size, cpu.s.segSel[seg], 0, i.size === 4 ? 2 : i.size);
      return 0;
    };
  }
  if (k >= OpKind3.Immediate8 && k <= OpKind3.Immediate32to64) {
    const name = iced4.Code[ins.code];
    rec.size = name.startsWith("Pushq") ? 8 : name.startsWith("Pushd") ? 4 : 2;
    return (cpu, i) => {
      push2(cpu, i.size, i.immLo, i.size === 8 ? i.immHi : 0);
      return 0;
    };
  }
  rec.size = stackOpSize(rec, codeSize2);
  return (cpu, i) => {
    const lo = readRm0(cpu, i, i.size);
    push2(cpu, i.size, lo, cpu.hi);
    return 0;
  };
};
const popB = (ins, rec, codeSize2) => {
  if (ins.op0Kind === OpKind3.Register && segOperand(ins.op0Register) >= 0) {
    const seg = segOperand(ins.op0Register);
    rec.size = sregStackSize(ins);
    return (cpu, i) => {
      const sel = pop2(cpu, i.size) & 65535;
      if (realMode(cpu)) loadRealSegment(cpu, seg, sel);
      else loadDataSegment(cpu, seg, sel);
      return 0;
    };
  }
  rec.size = stackOpSize(rec, codeSize2);
  return (cpu, i) => {
    const lo = pop2(cpu, i.size);
    writeRm0(cpu, i, i.size, lo, cpu.hi);
    return 0;
  };
};
function pusha(size) {
  return (cpu) => {
    const width = stackWidth(cpu);
    const rsp2 = getRsp(cpu);
    const mask = width === 4 ? 4294967295 : 65535;
    const ssBase = cpu.s.segBase[2];
    let sp = (rsp2 & mask) >>> 0;
    for (let r = 0; r < 8; r++) {
      const v = r === 4 ? size === 4 ? rsp2 >>> 0 : rsp2 & 65535 : readReg(cpu, r, size);
      sp = (sp - size & mask) >>> 0;
      writeLinear(cpu, ssBase + sp, size, v, 0);
    }
    setRsp2(cpu, sp, width);
    return 0;
  };
}
function popa(size) {
  return (cpu) => {
    const width = stackWidth(cpu);
    const mask = width === 4 ? 4294967295 : 65535;
    const ssBase = cpu.s.segBase[2];
    let sp = (getRsp(cpu) & mask) >>> 0;
    const v = [];
    for (let k = 0; k < 8; k++) {
      v.push(readLinear(cpu, ssBase + sp, size));
      sp = (sp + size & mask) >>> 0;
    }
    for (let k = 0; k < 8; k++) if (k !== 3) writeReg(cpu, 7 - k, size, v[k], 0);
    setRsp2(cpu, sp, width);
    return 0;
  };
}
function widenAccumulator(size) {
  return (cpu) => {
    const half = readReg(cpu, 0, size / 2);
    const bits = 4 * size;
    if (size === 8) writeReg(cpu, 0, 8, half, half & 2147483648 ? 4294967295 : 0);
    else writeReg(cpu, 0, size, half << 32 - bits >> 32 - bits >>> 0, 0);
    return 0;
  };
}
function signIntoDx(size) {
  return (cpu) => {
    const lo = readReg(cpu, 0, size);
    const top = size === 8 ? cpu.hi : lo << 32 - 8 * size;
    const fill = top & 2147483648 ? 4294967295 : 0;
    writeReg(cpu, 2, size, fill, fill);
    return 0;
  };
}
const nop = () => 0;
const swap32 = (v) => (v << 24 | v << 8 & 16711680 | v >>> 8 & 65280 | v >>> 24) >>> 0;
const bswap = (_ins, rec) => {
  if (rec.r0 < 0 || rec.size !== 4 && rec.size !== 8) return void 0;
  return (cpu, i) => {
    const lo = readReg(cpu, i.r0, i.size);
    if (i.size === 8) writeReg(cpu, i.r0, 8, swap32(cpu.hi), swap32(lo));
    else writeReg(cpu, i.r0, 4, swap32(lo), 0);
    return 0;
  };
};
const DATA_BUILDERS = [
  [Mnemonic3.Mov, mov2],
  [Mnemonic3.Movzx, extendBuilder(false)],
  [Mnemonic3.Movsx, extendBuilder(true)],
  [Mnemonic3.Movsxd, extendBuilder(true)],
  [Mnemonic3.Lea, lea2],
  [Mnemonic3.Xchg, xchg],
  [Mnemonic3.Push, pushB],
  [Mnemonic3.Pop, popB],
  [Mnemonic3.Cbw, () => widenAccumulator(2)],
  [Mnemonic3.Cwde, () => widenAccumulator(4)],
  [Mnemonic3.Cdqe, () => widenAccumulator(8)],
  [Mnemonic3.Cwd, () => signIntoDx(2)],
  [Mnemonic3.Cdq, () => signIntoDx(4)],
  [Mnemonic3.Cqo, () => signIntoDx(8)],
  [Mnemonic3.Nop, () => nop],
  [Mnemonic3.Bswap, bswap],
  [Mnemonic3.Pusha, () => pusha(2)],
  [Mnemonic3.Pushad, () => pusha(4)],
  [Mnemonic3.Popa, () => popa(2)],
  [Mnemonic3.Popad, () => popa(4)],
  ...[
    [Mnemonic3.Les, 0],
    [Mnemonic3.Lds, 3],
    [Mnemonic3.Lss, 2],
    [Mnemonic3.Lfs, 4],
    [Mnemonic3.Lgs, 5]
  ].map(([m, seg]) => [m, () => loadFarPointer(seg)])
];

// src/cpu/x86/ops/misc.ts
import iced5 from "iced-x86";
var { Mnemonic: Mnemonic4 } = iced5;
const nop2 = () => 0;
function frameSize(ins) {
  const name = iced5.Code[ins.code];
  return name.startsWith("Leaveq") || name.startsWith("Enterq") ? 8 : name.startsWith("Leavew") || name.startsWith("Enterw") ? 2 : 4;
}
const leave = (ins, rec) => {
  rec.size = frameSize(ins);
  return (cpu, i) => {
    const width = stackWidth(cpu);
    const bp = readReg(cpu, 5, width);
    const bpHi = cpu.hi;
    const saved = getRsp(cpu);
    setRsp2(cpu, width === 8 ? (bpHi | 0) * 4294967296 + bp : bp, width);
    try {
      const v = pop2(cpu, i.size);
      writeReg(cpu, 5, i.size, v, cpu.hi);
    } catch (e) {
      setRsp2(cpu, saved, 8);
      throw e;
    }
    return 0;
  };
};
const enter = (ins, rec) => {
  if (ins.immediate8_2nd !== 0) return void 0;
  rec.size = frameSize(ins);
  const frame = ins.immediate16;
  return (cpu, i) => {
    const bp = readReg(cpu, 5, i.size);
    push2(cpu, i.size, bp, cpu.hi);
    const width = stackWidth(cpu);
    const sp = getRsp(cpu);
    writeReg(cpu, 5, width, sp >>> 0, width === 8 ? hi32(sp) : 0);
    setRsp2(
      cpu,
      width === 8 ? sp - frame : width === 4 ? (sp >>> 0) - frame >>> 0 : (sp & 65535) - frame & 65535,
      width
    );
    return 0;
  };
};
const pause = (cpu) => cpu.vmcb.isIntercept(119) ? cpu.intercept(119, 0, 0, 0, 0, cpu.nextRip) : 0;
const xlat = (cpu, i) => {
  const s = cpu.s;
  const base = readReg(cpu, 3, i.asize);
  const off = base + readReg(cpu, 0, 1);
  const seg = i.mseg >= 0 ? i.mseg : 3;
  const la = s.codeSize === 64 ? (seg >= 4 ? s.segBase[seg] : 0) + off : s.segBase[seg] + off >>> 0;
  writeReg(cpu, 0, 1, readLinear(cpu, la, 1), 0);
  return 0;
};
function cmpxchgWide(sixteen) {
  return (cpu, i) => {
    const half = sixteen ? 8 : 4;
    const la = linearAddress(cpu, i);
    if (sixteen && la % 16 !== 0) cpu.raise({ vector: 13, errorCode: 0 });
    const mLo2 = readLinear(cpu, la, half);
    const mLoHi = cpu.hi;
    const mHi2 = readLinear(cpu, la + half, half);
    const mHiHi = cpu.hi;
    const aLo = readReg(cpu, 0, half);
    const aLoHi = cpu.hi;
    const aHi = readReg(cpu, 2, half);
    const aHiHi = cpu.hi;
    const equal = mLo2 === aLo && mLoHi === aLoHi && mHi2 === aHi && mHiHi === aHiHi;
    const f = readRflags(cpu.f);
    if (equal) {
      const bLo = readReg(cpu, 3, half);
      const bLoHi = cpu.hi;
      const bHi = readReg(cpu, 1, half);
      writeLinear(cpu, la, half, bLo, bLoHi);
      writeLinear(cpu, la + half, half, bHi, cpu.hi);
      writeRflags(cpu.f, f | 64);
    } else {
      writeLinear(cpu, la, half, mLo2, mLoHi);
      writeLinear(cpu, la + half, half, mHi2, mHiHi);
      writeReg(cpu, 0, half, mLo2, mLoHi);
      writeReg(cpu, 2, half, mHi2, mHiHi);
      writeRflags(cpu.f, f & ~64);
    }
    return 0;
  };
}
const smsw = (cpu, i) => {
  if (cpu.vmcb.isIntercept(0))
    return cpu.intercept(0, 0, 0, 0, 0, cpu.nextRip);
  const cr0 = cpu.s.cr0 >>> 0;
  writeRm0(cpu, i, i.r0 >= 0 ? i.size : 2, i.size === 2 || i.r0 < 0 ? cr0 & 65535 : cr0, 0);
  return 0;
};
const clts = (cpu) => {
  if (cpu.s.cpl !== 0) cpu.raise({ vector: 13, errorCode: 0 });
  if (cpu.vmcb.isIntercept(16))
    return cpu.intercept(16, 0, 0, 0, 0, cpu.nextRip);
  cpu.s.cr0 &= ~8;
  return 0;
};
const swapgs = (cpu) => {
  const s = cpu.s;
  if (s.codeSize !== 64) cpu.raise({ vector: 6 });
  if (s.cpl !== 0) cpu.raise({ vector: 13, errorCode: 0 });
  const k = getS64(cpu.save, 544);
  setS64(cpu.save, 544, s.segBase[5]);
  s.segBase[5] = k;
  return 0;
};
const MISC_BUILDERS = [
  [Mnemonic4.Leave, leave],
  [Mnemonic4.Enter, enter],
  [Mnemonic4.Pause, () => pause],
  [Mnemonic4.Lfence, () => nop2],
  [Mnemonic4.Mfence, () => nop2],
  [Mnemonic4.Sfence, () => nop2],
  [Mnemonic4.Prefetchnta, () => nop2],
  [Mnemonic4.Prefetcht0, () => nop2],
  [Mnemonic4.Prefetcht1, () => nop2],
  [Mnemonic4.Prefetcht2, () => nop2],
  [Mnemonic4.Prefetchw, () => nop2],
  [Mnemonic4.Clflush, () => nop2],
  [Mnemonic4.Clflushopt, () => nop2],
  [Mnemonic4.Endbr64, () => nop2],
  [Mnemonic4.Endbr32, () => nop2],
  [Mnemonic4.Xlatb, () => xlat],
  [Mnemonic4.Cmpxchg8b, () => cmpxchgWide(false)],
  [Mnemonic4.Cmpxchg16b, () => cmpxchgWide(true)],
  [Mnemonic4.Smsw, () => smsw],
  [Mnemonic4.Clts, () => clts],
  [Mnemonic4.Swapgs, () => swapgs]
];

// src/cpu/x86/ops/sse.ts
import iced6 from "iced-x86";
var { Code, Mnemonic: Mnemonic5, OpKind: OpKind4, Register: Register2 } = iced6;
const CR0_EM = 1 << 2;
const CR0_TS = 1 << 3;
const CR4_OSFXSR = 1 << 9;
const MXCSR_MASK = 65535;
function sseCheck(cpu) {
  const s = cpu.s;
  if (s.cr0 & CR0_EM || !(s.cr4 & CR4_OSFXSR)) cpu.raise({ vector: 6 });
  if (s.cr0 & CR0_TS) cpu.raise({ vector: 7 });
}
function fxCheck(cpu) {
  if (cpu.s.cr0 & (CR0_EM | CR0_TS)) cpu.raise({ vector: 7 });
}
function memAddress(cpu, i, align) {
  const la = linearAddress(cpu, i);
  if (align && la & 15) cpu.generalProtection(0);
  return la;
}
const SRC = new Uint32Array(4);
const SRC_W = new Uint16Array(SRC.buffer);
const SRC_B = new Uint8Array(SRC.buffer);
const TMP_B = new Uint8Array(16);
function readMem(cpu, la, bytes) {
  if (bytes === 4) {
    SRC[0] = readLinear(cpu, la, 4);
    SRC[1] = 0;
  } else {
    SRC[0] = readLinear(cpu, la, 8);
    SRC[1] = cpu.hi;
  }
  if (bytes === 16) {
    SRC[2] = readLinear(cpu, la + 8, 8);
    SRC[3] = cpu.hi;
  } else {
    SRC[2] = 0;
    SRC[3] = 0;
  }
}
function loadSrc(cpu, i, bytes, align) {
  if (i.r1 !== (-1)) {
    const d = cpu.xmmD;
    const o = 4 * i.r1;
    SRC[0] = d[o];
    SRC[1] = d[o + 1];
    SRC[2] = d[o + 2];
    SRC[3] = d[o + 3];
  } else readMem(cpu, memAddress(cpu, i, align), bytes);
}
function storeMem(cpu, la, r, from, n2) {
  const d = cpu.xmmD;
  const o = 4 * r + from;
  if (n2 === 1) {
    writeLinear(cpu, la, 4, d[o], 0);
    return;
  }
  if (n2 === 4 && pageOffset(la) + 16 > 4096) {
    tlbEntry(cpu, la, 1);
    tlbEntry(cpu, la + 15, 1);
  }
  writeLinear(cpu, la, 8, d[o], d[o + 1]);
  if (n2 === 4) writeLinear(cpu, la + 8, 8, d[o + 2], d[o + 3]);
}
function putSrc(cpu, r, at, n2, zero) {
  const d = cpu.xmmD;
  const o = 4 * r;
  if (zero) d.fill(0, o, o + 4);
  for (let k = 0; k < n2; k++) d[o + at + k] = SRC[k];
}
function movLoad128(align) {
  return (cpu, i) => {
    sseCheck(cpu);
    loadSrc(cpu, i, 16, align);
    putSrc(cpu, i.r0, 0, 4, false);
    return 0;
  };
}
function movStore128(align) {
  return (cpu, i) => {
    sseCheck(cpu);
    if (i.r0 === (-1)) storeMem(cpu, memAddress(cpu, i, align), i.r1, 0, 4);
    else cpu.xmmD.copyWithin(4 * i.r0, 4 * i.r1, 4 * i.r1 + 4);
    return 0;
  };
}
function movScalarLoad(n2) {
  return (cpu, i) => {
    sseCheck(cpu);
    loadSrc(cpu, i, 4 * n2, false);
    putSrc(cpu, i.r0, 0, n2, i.r1 === (-1));
    return 0;
  };
}
function movScalarStore(n2) {
  return (cpu, i) => {
    sseCheck(cpu);
    if (i.r0 === (-1)) storeMem(cpu, memAddress(cpu, i, false), i.r1, 0, n2);
    else cpu.xmmD.copyWithin(4 * i.r0, 4 * i.r1, 4 * i.r1 + n2);
    return 0;
  };
}
const movqLoad = (cpu, i) => {
  sseCheck(cpu);
  loadSrc(cpu, i, 8, false);
  putSrc(cpu, i.r0, 0, 2, true);
  return 0;
};
const movqStore = (cpu, i) => {
  sseCheck(cpu);
  if (i.r0 === (-1)) storeMem(cpu, memAddress(cpu, i, false), i.r1, 0, 2);
  else {
    const d = cpu.xmmD;
    const o = 4 * i.r0;
    const from = 4 * i.r1;
    d[o] = d[from];
    d[o + 1] = d[from + 1];
    d[o + 2] = 0;
    d[o + 3] = 0;
  }
  return 0;
};
const movdToXmm = (cpu, i) => {
  sseCheck(cpu);
  const lo = readRm1(cpu, i, i.size);
  const d = cpu.xmmD;
  const o = 4 * i.r0;
  d[o] = lo;
  d[o + 1] = i.size === 8 ? cpu.hi : 0;
  d[o + 2] = 0;
  d[o + 3] = 0;
  return 0;
};
const movdFromXmm = (cpu, i) => {
  sseCheck(cpu);
  const d = cpu.xmmD;
  const o = 4 * i.r1;
  writeRm0(cpu, i, i.size, d[o], i.size === 8 ? d[o + 1] : 0);
  return 0;
};
function movHalfLoad(at) {
  return (cpu, i) => {
    sseCheck(cpu);
    readMem(cpu, memAddress(cpu, i, false), 8);
    putSrc(cpu, i.r0, at, 2, false);
    return 0;
  };
}
function movHalfStore(at) {
  return (cpu, i) => {
    sseCheck(cpu);
    storeMem(cpu, memAddress(cpu, i, false), i.r1, at, 2);
    return 0;
  };
}
function movHalfReg(from, to) {
  return (cpu, i) => {
    sseCheck(cpu);
    const d = cpu.xmmD;
    const s = 4 * i.r1 + from;
    const t = 4 * i.r0 + to;
    const a = d[s];
    const b = d[s + 1];
    d[t] = a;
    d[t + 1] = b;
    return 0;
  };
}
const movnti = (cpu, i) => {
  const lo = readReg(cpu, i.r1, i.size);
  writeRm0(cpu, i, i.size, lo, cpu.hi);
  return 0;
};
function dwordOp(f) {
  return (cpu, i) => {
    sseCheck(cpu);
    loadSrc(cpu, i, 16, true);
    const d = cpu.xmmD;
    const o = 4 * i.r0;
    for (let k = 0; k < 4; k++) d[o + k] = f(d[o + k], SRC[k]);
    return 0;
  };
}
const pxor = dwordOp((d, s) => d ^ s);
const por = dwordOp((d, s) => d | s);
const pand = dwordOp((d, s) => d & s);
const pandn = dwordOp((d, s) => ~d & s);
const paddd = dwordOp((d, s) => d + s);
const psubd = dwordOp((d, s) => d - s);
const pcmpeqd = dwordOp((d, s) => d === s ? 4294967295 : 0);
const paddb = (cpu, i) => {
  sseCheck(cpu);
  loadSrc(cpu, i, 16, true);
  const b = cpu.xmmB;
  const o = 16 * i.r0;
  for (let k = 0; k < 16; k++) b[o + k] = b[o + k] + SRC_B[k];
  return 0;
};
const psubb = (cpu, i) => {
  sseCheck(cpu);
  loadSrc(cpu, i, 16, true);
  const b = cpu.xmmB;
  const o = 16 * i.r0;
  for (let k = 0; k < 16; k++) b[o + k] = b[o + k] - SRC_B[k];
  return 0;
};
const pcmpeqb = (cpu, i) => {
  sseCheck(cpu);
  loadSrc(cpu, i, 16, true);
  const b = cpu.xmmB;
  const o = 16 * i.r0;
  for (let k = 0; k < 16; k++) b[o + k] = b[o + k] === SRC_B[k] ? 255 : 0;
  return 0;
};
const paddw = (cpu, i) => {
  sseCheck(cpu);
  loadSrc(cpu, i, 16, true);
  const w = cpu.xmmW;
  const o = 8 * i.r0;
  for (let k = 0; k < 8; k++) w[o + k] = w[o + k] + SRC_W[k];
  return 0;
};
const psubw = (cpu, i) => {
  sseCheck(cpu);
  loadSrc(cpu, i, 16, true);
  const w = cpu.xmmW;
  const o = 8 * i.r0;
  for (let k = 0; k < 8; k++) w[o + k] = w[o + k] - SRC_W[k];
  return 0;
};
const pcmpeqw = (cpu, i) => {
  sseCheck(cpu);
  loadSrc(cpu, i, 16, true);
  const w = cpu.xmmW;
  const o = 8 * i.r0;
  for (let k = 0; k < 8; k++) w[o + k] = w[o + k] === SRC_W[k] ? 65535 : 0;
  return 0;
};
function quadAddSub(sub2) {
  return (cpu, i) => {
    sseCheck(cpu);
    loadSrc(cpu, i, 16, true);
    const d = cpu.xmmD;
    const o = 4 * i.r0;
    for (let q = 0; q < 4; q += 2) {
      const a = d[o + q];
      const s = SRC[q];
      if (sub2) {
        d[o + q] = a - s;
        d[o + q + 1] = d[o + q + 1] - SRC[q + 1] - (a < s ? 1 : 0);
      } else {
        const lo = a + s;
        d[o + q] = lo;
        d[o + q + 1] = d[o + q + 1] + SRC[q + 1] + (lo > 4294967295 ? 1 : 0);
      }
    }
    return 0;
  };
}
function unpack2(w, high) {
  const n2 = 8 / w;
  const base = high ? 8 : 0;
  return (cpu, i) => {
    sseCheck(cpu);
    loadSrc(cpu, i, 16, true);
    const b = cpu.xmmB;
    const o = 16 * i.r0;
    for (let j = 0; j < n2; j++)
      for (let k = 0; k < w; k++) {
        TMP_B[2 * j * w + k] = b[o + base + j * w + k];
        TMP_B[(2 * j + 1) * w + k] = SRC_B[base + j * w + k];
      }
    b.set(TMP_B, o);
    return 0;
  };
}
const pshufd = (cpu, i) => {
  sseCheck(cpu);
  loadSrc(cpu, i, 16, true);
  const d = cpu.xmmD;
  const o = 4 * i.r0;
  for (let k = 0; k < 4; k++) d[o + k] = SRC[i.immLo >>> 2 * k & 3];
  return 0;
};
const pmovmskb = (cpu, i) => {
  sseCheck(cpu);
  const b = cpu.xmmB;
  const o = 16 * i.r1;
  let m = 0;
  for (let k = 0; k < 16; k++) m |= b[o + k] >>> 7 << k;
  writeReg(cpu, i.r0, 4, m, 0);
  return 0;
};
function byteShift(left) {
  return (cpu, i) => {
    sseCheck(cpu);
    const b = cpu.xmmB;
    const o = 16 * i.r0;
    const n2 = Math.min(i.immLo & 255, 16);
    TMP_B.fill(0);
    for (let k = 0; k < 16 - n2; k++) {
      if (left) TMP_B[k + n2] = b[o + k];
      else TMP_B[k] = b[o + k + n2];
    }
    b.set(TMP_B, o);
    return 0;
  };
}
function shiftQuads(cpu, r, n2, left) {
  const d = cpu.xmmD;
  const o = 4 * r;
  for (let q = 0; q < 4; q += 2) {
    const lo = d[o + q];
    const hi = d[o + q + 1];
    let nlo = 0;
    let nhi = 0;
    if (n2 === 0) {
      nlo = lo;
      nhi = hi;
    } else if (n2 < 32) {
      if (left) {
        nlo = lo << n2;
        nhi = hi << n2 | lo >>> 32 - n2;
      } else {
        nlo = lo >>> n2 | hi << 32 - n2;
        nhi = hi >>> n2;
      }
    } else if (n2 < 64) {
      if (left) nhi = lo << n2 - 32;
      else nlo = hi >>> n2 - 32;
    }
    d[o + q] = nlo;
    d[o + q + 1] = nhi;
  }
}
function quadShiftImm(left) {
  return (cpu, i) => {
    sseCheck(cpu);
    shiftQuads(cpu, i.r0, i.immLo & 255, left);
    return 0;
  };
}
function quadShiftReg(left) {
  return (cpu, i) => {
    sseCheck(cpu);
    loadSrc(cpu, i, 16, true);
    shiftQuads(cpu, i.r0, SRC[1] !== 0 || SRC[0] > 64 ? 64 : SRC[0], left);
    return 0;
  };
}
const ldmxcsr = (cpu, i) => {
  sseCheck(cpu);
  const v = readLinear(cpu, memAddress(cpu, i, false), 4);
  if (v & ~65535) cpu.generalProtection(0);
  cpu.fpu.mxcsr = v;
  return 0;
};
const stmxcsr = (cpu, i) => {
  sseCheck(cpu);
  writeLinear(cpu, memAddress(cpu, i, false), 4, cpu.fpu.mxcsr, 0);
  return 0;
};
const FX_FCW = 0;
const FX_FSW = 2;
const FX_FTW = 4;
const FX_FOP = 6;
const FX_FIP = 8;
const FX_FDP = 16;
const FX_MXCSR = 24;
const FX_MXCSR_MASK = 28;
const FX_ST = 32;
const FX_XMM = 160;
function xmmBytes(cpu) {
  return 16 * (cpu.s.codeSize === 64 ? 16 : 8);
}
function storeX87(cpu, v, wide) {
  const f = cpu.fpu;
  v.setUint16(0, f.fcw, true);
  v.setUint16(2, f.fsw, true);
  v.setUint8(4, f.ftwx);
  v.setUint8(4 + 1, 0);
  v.setUint16(6, f.lastOpcode, true);
  v.setBigUint64(8, wide ? f.lastIp : f.lastIp & 0xffffffffn, true);
  v.setBigUint64(16, wide ? f.lastDp : f.lastDp & 0xffffffffn, true);
  new Uint8Array(v.buffer, v.byteOffset + 32, 128).set(f.fpr.subarray(0, 128));
}
function storeMxcsr(cpu, v) {
  v.setUint32(24, cpu.fpu.mxcsr, true);
  v.setUint32(28, 65535, true);
}
function loadX87(cpu, v, wide) {
  const f = cpu.fpu;
  f.fcw = v.getUint16(0, true);
  f.fsw = v.getUint16(2, true);
  f.ftwx = v.getUint8(4);
  f.lastOpcode = v.getUint16(6, true);
  const ip = v.getBigUint64(8, true);
  const dp = v.getBigUint64(16, true);
  f.lastIp = wide ? ip : ip & 0xffffffffn;
  f.lastDp = wide ? dp : dp & 0xffffffffn;
  f.fpr.set(new Uint8Array(v.buffer, v.byteOffset + 32, 128));
}
function probeWrite(cpu, la, n2) {
  for (let off = 0; off < n2; off += 4096 - pageOffset(la + off)) tlbEntry(cpu, la + off, 1);
  tlbEntry(cpu, la + n2 - 1, 1);
}
function writeImage(cpu, la, v, from, to) {
  for (let off = from; off < to; off += 8)
    writeLinear(cpu, la + off, 8, v.getUint32(off, true), v.getUint32(off + 4, true));
}
function readImage(cpu, la, v, from, to) {
  for (let off = from; off < to; off += 8) {
    v.setUint32(off, readLinear(cpu, la + off, 8), true);
    v.setUint32(off + 4, cpu.hi, true);
  }
}
function fxsave(wide) {
  return (cpu, i) => {
    fxCheck(cpu);
    const la = memAddress(cpu, i, true);
    const n2 = 160 + xmmBytes(cpu);
    const area = new Uint8Array(n2);
    const v = new DataView(area.buffer);
    storeX87(cpu, v, wide);
    storeMxcsr(cpu, v);
    area.set(cpu.xmmB.subarray(0, n2 - 160), 160);
    probeWrite(cpu, la, n2);
    writeImage(cpu, la, v, 0, n2);
    return 0;
  };
}
function fxrstor(wide) {
  return (cpu, i) => {
    fxCheck(cpu);
    const la = memAddress(cpu, i, true);
    const n2 = 160 + xmmBytes(cpu);
    const area = new Uint8Array(n2);
    const v = new DataView(area.buffer);
    readImage(cpu, la, v, 0, n2);
    const mxcsr = v.getUint32(24, true);
    if (mxcsr & ~65535) cpu.generalProtection(0);
    loadX87(cpu, v, wide);
    cpu.fpu.mxcsr = mxcsr;
    cpu.xmmB.set(area.subarray(160, n2));
    return 0;
  };
}
const BY_CODE = /* @__PURE__ */ new Map([
  [Code.Movaps_xmm_xmmm128, movLoad128(true)],
  [Code.Movapd_xmm_xmmm128, movLoad128(true)],
  [Code.Movdqa_xmm_xmmm128, movLoad128(true)],
  [Code.Movaps_xmmm128_xmm, movStore128(true)],
  [Code.Movapd_xmmm128_xmm, movStore128(true)],
  [Code.Movdqa_xmmm128_xmm, movStore128(true)],
  [Code.Movups_xmm_xmmm128, movLoad128(false)],
  [Code.Movupd_xmm_xmmm128, movLoad128(false)],
  [Code.Movdqu_xmm_xmmm128, movLoad128(false)],
  [Code.Movups_xmmm128_xmm, movStore128(false)],
  [Code.Movupd_xmmm128_xmm, movStore128(false)],
  [Code.Movdqu_xmmm128_xmm, movStore128(false)],
  [Code.Movntps_m128_xmm, movStore128(true)],
  [Code.Movntpd_m128_xmm, movStore128(true)],
  [Code.Movntdq_m128_xmm, movStore128(true)],
  [Code.Movss_xmm_xmmm32, movScalarLoad(1)],
  [Code.Movsd_xmm_xmmm64, movScalarLoad(2)],
  [Code.Movss_xmmm32_xmm, movScalarStore(1)],
  [Code.Movsd_xmmm64_xmm, movScalarStore(2)],
  [Code.Movq_xmm_xmmm64, movqLoad],
  [Code.Movq_xmmm64_xmm, movqStore],
  [Code.Movd_xmm_rm32, movdToXmm],
  [Code.Movq_xmm_rm64, movdToXmm],
  [Code.Movd_rm32_xmm, movdFromXmm],
  [Code.Movq_rm64_xmm, movdFromXmm],
  [Code.Movlps_xmm_m64, movHalfLoad(0)],
  [Code.Movlpd_xmm_m64, movHalfLoad(0)],
  [Code.Movhps_xmm_m64, movHalfLoad(2)],
  [Code.Movhpd_xmm_m64, movHalfLoad(2)],
  [Code.Movlps_m64_xmm, movHalfStore(0)],
  [Code.Movlpd_m64_xmm, movHalfStore(0)],
  [Code.Movhps_m64_xmm, movHalfStore(2)],
  [Code.Movhpd_m64_xmm, movHalfStore(2)],
  [Code.Movhlps_xmm_xmm, movHalfReg(2, 0)],
  [Code.Movlhps_xmm_xmm, movHalfReg(0, 2)],
  [Code.Movnti_m32_r32, movnti],
  [Code.Movnti_m64_r64, movnti],
  [Code.Pxor_xmm_xmmm128, pxor],
  [Code.Xorps_xmm_xmmm128, pxor],
  [Code.Xorpd_xmm_xmmm128, pxor],
  [Code.Por_xmm_xmmm128, por],
  [Code.Orps_xmm_xmmm128, por],
  [Code.Orpd_xmm_xmmm128, por],
  [Code.Pand_xmm_xmmm128, pand],
  [Code.Andps_xmm_xmmm128, pand],
  [Code.Andpd_xmm_xmmm128, pand],
  [Code.Pandn_xmm_xmmm128, pandn],
  [Code.Andnps_xmm_xmmm128, pandn],
  [Code.Andnpd_xmm_xmmm128, pandn],
  [Code.Pcmpeqb_xmm_xmmm128, pcmpeqb],
  [Code.Pcmpeqw_xmm_xmmm128, pcmpeqw],
  [Code.Pcmpeqd_xmm_xmmm128, pcmpeqd],
  [Code.Paddb_xmm_xmmm128, paddb],
  [Code.Paddw_xmm_xmmm128, paddw],
  [Code.Paddd_xmm_xmmm128, paddd],
  [Code.Paddq_xmm_xmmm128, quadAddSub(false)],
  [Code.Psubb_xmm_xmmm128, psubb],
  [Code.Psubw_xmm_xmmm128, psubw],
  [Code.Psubd_xmm_xmmm128, psubd],
  [Code.Psubq_xmm_xmmm128, quadAddSub(true)],
  [Code.Punpcklbw_xmm_xmmm128, unpack2(1, false)],
  [Code.Punpcklwd_xmm_xmmm128, unpack2(2, false)],
  [Code.Punpckldq_xmm_xmmm128, unpack2(4, false)],
  [Code.Punpcklqdq_xmm_xmmm128, unpack2(8, false)],
  [Code.Punpckhbw_xmm_xmmm128, unpack2(1, true)],
  [Code.Punpckhwd_xmm_xmmm128, unpack2(2, true)],
  [Code.Punpckhdq_xmm_xmmm128, unpack2(4, true)],
  [Code.Punpckhqdq_xmm_xmmm128, unpack2(8, true)],
  [Code.Pshufd_xmm_xmmm128_imm8, pshufd],
  [Code.Pmovmskb_r32_xmm, pmovmskb],
  [Code.Pmovmskb_r64_xmm, pmovmskb],
  [Code.Pslldq_xmm_imm8, byteShift(true)],
  [Code.Psrldq_xmm_imm8, byteShift(false)],
  [Code.Psllq_xmm_imm8, quadShiftImm(true)],
  [Code.Psrlq_xmm_imm8, quadShiftImm(false)],
  [Code.Psllq_xmm_xmmm128, quadShiftReg(true)],
  [Code.Psrlq_xmm_xmmm128, quadShiftReg(false)],
  [Code.Ldmxcsr_m32, ldmxcsr],
  [Code.Stmxcsr_m32, stmxcsr],
  [Code.Fxsave_m512byte, fxsave(false)],
  [Code.Fxsave64_m512byte, fxsave(true)],
  [Code.Fxrstor_m512byte, fxrstor(false)],
  [Code.Fxrstor64_m512byte, fxrstor(true)]
]);
const sseBuilder = (ins, rec) => {
  const exec = BY_CODE.get(ins.code);
  if (!exec) return void 0;
  for (let k = 0; k < Math.min(ins.opCount, 2); k++) {
    if (ins.opKind(k) !== OpKind4.Register) continue;
    const r = ins.opRegister(k) - Register2.XMM0;
    if (r < 0 || r > 15) continue;
    if (k === 0) rec.r0 = r;
    else rec.r1 = r;
  }
  return exec;
};
const SSE_BUILDERS = [
  ...new Set(
    [...BY_CODE.keys()].map((c) => {
      const m = Mnemonic5[Code[c].split("_")[0]];
      if (m === void 0) throw new Error(`no mnemonic for ${Code[c]}`);
      return m;
    })
  )
].map((m) => [m, sseBuilder]);

// src/cpu/x86/ops/string.ts
import iced7 from "iced-x86";
var { Mnemonic: Mnemonic6, OpKind: OpKind5 } = iced7;
function getIndex(cpu, r, asize) {
  const lo = readReg(cpu, r, asize);
  return asize === 8 ? (cpu.hi | 0) * 4294967296 + lo : lo;
}
function setIndex(cpu, r, asize, v) {
  if (asize === 2) writeReg(cpu, r, 2, v & 65535, 0);
  else if (asize === 4) writeReg(cpu, r, 4, v >>> 0, 0);
  else {
    const lo = v >>> 0;
    writeReg(cpu, r, 8, lo, hi32(v));
  }
}
function linear2(cpu, seg, off) {
  const s = cpu.s;
  if (s.codeSize === 64) return seg === 4 || seg === 5 ? off + s.segBase[seg] : off;
  return s.segBase[seg] + off >>> 0;
}
function srcSeg(i) {
  return i.mseg >= 0 ? i.mseg : 3;
}
function step(cpu, size) {
  return readRflags(cpu.f) & 1024 ? -size : size;
}
function repeat(cpu, i, conditional, body) {
  if (!i.rep) {
    body();
    return;
  }
  const a = i.asize;
  for (; ; ) {
    const c = getIndex(cpu, 1, a);
    if (c === 0) return;
    body();
    setIndex(cpu, 1, a, c - 1);
    if (conditional && (i.rep === 1 ? !zf(cpu.f) : zf(cpu.f))) return;
  }
}
const movs = (cpu, i) => {
  const a = i.asize;
  const n2 = i.size;
  repeat(cpu, i, false, () => {
    const si = getIndex(cpu, 6, a);
    const di = getIndex(cpu, 7, a);
    const lo = readLinear(cpu, linear2(cpu, srcSeg(i), si), n2);
    writeLinear(cpu, linear2(cpu, 0, di), n2, lo, cpu.hi);
    const d = step(cpu, n2);
    setIndex(cpu, 6, a, si + d);
    setIndex(cpu, 7, a, di + d);
  });
  return 0;
};
const stos = (cpu, i) => {
  const a = i.asize;
  const n2 = i.size;
  const lo = readReg(cpu, 0, n2);
  const hi = cpu.hi;
  repeat(cpu, i, false, () => {
    const di = getIndex(cpu, 7, a);
    writeLinear(cpu, linear2(cpu, 0, di), n2, lo, hi);
    setIndex(cpu, 7, a, di + step(cpu, n2));
  });
  return 0;
};
const lods = (cpu, i) => {
  const a = i.asize;
  const n2 = i.size;
  repeat(cpu, i, false, () => {
    const si = getIndex(cpu, 6, a);
    const lo = readLinear(cpu, linear2(cpu, srcSeg(i), si), n2);
    writeReg(cpu, 0, n2, lo, cpu.hi);
    setIndex(cpu, 6, a, si + step(cpu, n2));
  });
  return 0;
};
const cmps = (cpu, i) => {
  const a = i.asize;
  const n2 = i.size;
  repeat(cpu, i, true, () => {
    const si = getIndex(cpu, 6, a);
    const di = getIndex(cpu, 7, a);
    const x = readLinear(cpu, linear2(cpu, srcSeg(i), si), n2);
    const xh = cpu.hi;
    const y = readLinear(cpu, linear2(cpu, 0, di), n2);
    sub(cpu.f, n2, x, xh, y, cpu.hi);
    const d = step(cpu, n2);
    setIndex(cpu, 6, a, si + d);
    setIndex(cpu, 7, a, di + d);
  });
  return 0;
};
const scas = (cpu, i) => {
  const a = i.asize;
  const n2 = i.size;
  const acc = readReg(cpu, 0, n2);
  const accHi = cpu.hi;
  repeat(cpu, i, true, () => {
    const di = getIndex(cpu, 7, a);
    const y = readLinear(cpu, linear2(cpu, 0, di), n2);
    sub(cpu.f, n2, acc, accHi, y, cpu.hi);
    setIndex(cpu, 7, a, di + step(cpu, n2));
  });
  return 0;
};
function stringIo(isIn) {
  return (cpu, i) => {
    const port = readReg(cpu, 2, 2);
    const a = i.asize === 8 ? 4 : i.asize === 4 ? 2 : 1;
    const seg = isIn ? 0 : srcSeg(i);
    const info = (port << 16 | i.size << 4 | a << 7 | seg << 10 | SVM_IOIO_STR_MASK | (i.rep ? SVM_IOIO_REP_MASK : 0) | (isIn ? 1 : 0)) >>> 0;
    const next = cpu.nextRip;
    return cpu.intercept(123, info, 0, next >>> 0, hi32(next), next);
  };
}
function isStringOperand(kind) {
  return kind >= OpKind5.MemorySegSI && kind <= OpKind5.MemoryESRDI;
}
function form(exec) {
  return (ins, rec) => {
    if (!isStringOperand(ins.op0Kind) && !isStringOperand(ins.op1Kind)) return void 0;
    rec.size = iced7.MemorySizeExt.size(ins.memorySize);
    return rec.size ? exec : void 0;
  };
}
const STRING_BUILDERS = [
  ...[Mnemonic6.Movsb, Mnemonic6.Movsw, Mnemonic6.Movsd, Mnemonic6.Movsq].map((m) => [
    m,
    form(movs)
  ]),
  ...[Mnemonic6.Stosb, Mnemonic6.Stosw, Mnemonic6.Stosd, Mnemonic6.Stosq].map((m) => [
    m,
    form(stos)
  ]),
  ...[Mnemonic6.Lodsb, Mnemonic6.Lodsw, Mnemonic6.Lodsd, Mnemonic6.Lodsq].map((m) => [
    m,
    form(lods)
  ]),
  ...[Mnemonic6.Cmpsb, Mnemonic6.Cmpsw, Mnemonic6.Cmpsd, Mnemonic6.Cmpsq].map((m) => [
    m,
    form(cmps)
  ]),
  ...[Mnemonic6.Scasb, Mnemonic6.Scasw, Mnemonic6.Scasd, Mnemonic6.Scasq].map((m) => [
    m,
    form(scas)
  ]),
  ...[Mnemonic6.Insb, Mnemonic6.Insw, Mnemonic6.Insd].map((m) => [m, form(stringIo(true))]),
  ...[Mnemonic6.Outsb, Mnemonic6.Outsw, Mnemonic6.Outsd].map((m) => [
    m,
    form(stringIo(false))
  ])
];

// src/cpu/x86/ops/system.ts
import iced8 from "iced-x86";

// src/uapi/msr-index.ts
const MSR_IA32_TSC = 16;
const MSR_IA32_SPEC_CTRL = 72;
const MSR_IA32_PRED_CMD = 73;
const MSR_IA32_FLUSH_CMD = 267;
const MSR_IA32_APICBASE = 27;
const MSR_IA32_APICBASE_BSP = 1n << 8n;
const MSR_IA32_APICBASE_ENABLE = 1n << 11n;
const MSR_IA32_SYSENTER_CS = 372;
const MSR_IA32_SYSENTER_ESP = 373;
const MSR_IA32_SYSENTER_EIP = 374;
const MSR_IA32_DEBUGCTLMSR = 473;
const MSR_IA32_CR_PAT = 631;
const MSR_IA32_XSS = 3488;
const MSR_EFER = 3221225600;
const MSR_STAR = 3221225601;
const MSR_LSTAR = 3221225602;
const MSR_CSTAR = 3221225603;
const MSR_SYSCALL_MASK = 3221225604;
const MSR_FS_BASE = 3221225728;
const MSR_GS_BASE = 3221225729;
const MSR_KERNEL_GS_BASE = 3221225730;
const MSR_TSC_AUX = 3221225731;
const MSR_AMD64_SEV_ES_GHCB = 3221291312;
const MSR_AMD64_GUEST_TSC_FREQ = 3221291316;

// src/cpu/x86/msr.ts
const TWO3210 = 4294967296;
function saveField(index) {
  switch (index) {
    case 3221225601:
      return 512;
    case 3221225602:
      return 520;
    case 3221225603:
      return 528;
    case 3221225604:
      return 536;
    case 3221225730:
      return 544;
    case 372:
      return 552;
    case 373:
      return 560;
    case 374:
      return 568;
    case 631:
      return 616;
    default:
      return -1;
  }
}
function nativeRdmsr(cpu, index) {
  const s = cpu.s;
  const field = saveField(index);
  if (field >= 0) {
    cpu.hi = cpu.save.getUint32(field + 4, true);
    return cpu.save.getUint32(field, true);
  }
  switch (index) {
    case 3221225728:
    case 3221225729: {
      const v = s.segBase[index === 3221225728 ? 4 : 5];
      const lo = v >>> 0;
      cpu.hi = hi32(v);
      return lo;
    }
    case 3221225600:
      cpu.hi = 0;
      return s.efer >>> 0;
    case 3221291312:
      cpu.hi = cpu.vmcb.ghcbGpaHi;
      return cpu.vmcb.ghcbGpaLo;
    default:
      cpu.raise({ vector: 13, errorCode: 0 });
  }
}
function canonical(lo, hi) {
  const v = (hi | 0) * 4294967296 + (lo >>> 0);
  return v < 2 ** 47 && v >= -(2 ** 47);
}
function nativeWrmsr(cpu, index, lo, hi) {
  const s = cpu.s;
  const field = saveField(index);
  if (field >= 0) {
    if ((index === 3221225602 || index === 3221225603 || index === 3221225730) && !canonical(lo, hi))
      cpu.raise({ vector: 13, errorCode: 0 });
    cpu.save.setUint32(field, lo >>> 0, true);
    cpu.save.setUint32(field + 4, hi >>> 0, true);
    return;
  }
  switch (index) {
    case 3221225728:
    case 3221225729: {
      if (!canonical(lo, hi)) cpu.raise({ vector: 13, errorCode: 0 });
      s.segBase[index === 3221225728 ? 4 : 5] = (hi | 0) * 4294967296 + lo;
      return;
    }
    case 3221225600:
      if (hi !== 0) cpu.raise({ vector: 13, errorCode: 0 });
      s.efer = (lo & ~EFER_LMA | s.efer & EFER_LMA) >>> 0;
      cpu.tlb.flush();
      return;
    case 3221291312:
      cpu.vmcb.ghcbGpa = BigInt(hi >>> 0) << 32n | BigInt(lo >>> 0);
      return;
    default:
      cpu.raise({ vector: 13, errorCode: 0 });
  }
}

// src/cpu/x86/ops/system.ts
var { Mnemonic: Mnemonic7, OpKind: OpKind6, Register: Register3 } = iced8;
function ioioInfo(port, size, asize, isIn) {
  const a = asize === 8 ? 4 : asize === 4 ? 2 : 1;
  return (port << 16 | size << 4 | a << 7 | (isIn ? 1 : 0)) >>> 0;
}
function ioAllowed(cpu) {
  if (realMode(cpu)) return;
  const iopl = readRflags(cpu.f) >>> 12 & 3;
  if (cpu.s.cpl > iopl) cpu.raise({ vector: 13, errorCode: 0 });
}
function io(isIn) {
  return (ins, rec) => {
    const portOp = isIn ? 1 : 0;
    const dataOp = isIn ? 0 : 1;
    const dx = ins.opKind(portOp) === OpKind6.Register;
    const data = ins.opRegister(dataOp);
    rec.size = data === Register3.AL ? 1 : data === Register3.AX ? 2 : 4;
    return (cpu, i) => {
      ioAllowed(cpu);
      const port = dx ? readReg(cpu, 2, 2) : i.immLo & 255;
      const next = cpu.nextRip;
      const asize = cpu.s.codeSize / 8;
      return cpu.intercept(
        123,
        ioioInfo(port, i.size, asize, isIn),
        0,
        next >>> 0,
        hi32(next),
        next
      );
    };
  };
}
function intercepted(code, info1 = 0) {
  return (cpu) => {
    const next = cpu.nextRip;
    return cpu.intercept(code, info1, 0, 0, 0, next);
  };
}
function msr(write) {
  return (cpu) => {
    if (cpu.s.cpl !== 0) cpu.raise({ vector: 13, errorCode: 0 });
    const index = readReg(cpu, 1, 4);
    if (cpu.vmcb.msrIntercepted(index, write))
      return cpu.intercept(124, write ? 1 : 0, 0, 0, 0, cpu.nextRip);
    if (write) nativeWrmsr(cpu, index, readReg(cpu, 0, 4), readReg(cpu, 2, 4));
    else {
      const lo = nativeRdmsr(cpu, index);
      writeReg(cpu, 2, 4, cpu.hi, 0);
      writeReg(cpu, 0, 4, lo, 0);
    }
    return 0;
  };
}
function setFlag(bit, on) {
  return (cpu) => {
    const f = readRflags(cpu.f);
    writeRflags(cpu.f, on === "toggle" ? f ^ bit : on ? f | bit : f & ~bit);
    return 0;
  };
}
function interruptFlag(on) {
  return (cpu) => {
    if (!realMode(cpu) && cpu.s.cpl > (readRflags(cpu.f) >>> 12 & 3))
      cpu.raise({ vector: 13, errorCode: 0 });
    const f = readRflags(cpu.f);
    if (on && !(f & 512)) cpu.shadowRip = cpu.nextRip;
    writeRflags(cpu.f, on ? f | 512 : f & ~512);
    return 0;
  };
}
function pushf(size) {
  return (cpu) => {
    const f = readRflags(cpu.f) & ~196608;
    push2(cpu, size, f, 0);
    return 0;
  };
}
function popf(size) {
  return (cpu) => {
    const v = pop2(cpu, size);
    const old = readRflags(cpu.f);
    const cpl = realMode(cpu) ? 0 : cpu.s.cpl;
    const iopl = old >>> 12 & 3;
    let mask = 2379221;
    if (cpl === 0) mask |= 12288;
    if (cpl <= iopl) mask |= 512;
    if (size === 2) mask &= 65535;
    writeRflags(cpu.f, old & ~mask | v & mask | 2);
    return 0;
  };
}
const lahf = (cpu) => {
  writeReg(cpu, 16, 1, readRflags(cpu.f) & 213 | 2, 0);
  return 0;
};
const sahf = (cpu) => {
  const ah = readReg(cpu, 16, 1);
  const mask = 128 | 64 | 16 | 4 | 1;
  writeRflags(cpu.f, readRflags(cpu.f) & ~mask | ah & mask);
  return 0;
};
function loadTable(idt) {
  return (cpu, i) => {
    if (!realMode(cpu) && cpu.s.cpl !== 0) cpu.raise({ vector: 13, errorCode: 0 });
    const la = linearAddress(cpu, i);
    const limit = readLinear(cpu, la, 2);
    const base64 = cpu.s.codeSize === 64;
    let base = readLinear(cpu, la + 2, base64 ? 8 : 4);
    if (base64) base = (cpu.hi | 0) * 4294967296 + base;
    else if (i.size === 2) base &= 16777215;
    if (idt) {
      cpu.s.idtrLimit = limit;
      cpu.s.idtrBase = base;
    } else {
      cpu.s.gdtrLimit = limit;
      cpu.s.gdtrBase = base;
    }
    return 0;
  };
}
function storeTable(idt) {
  return (cpu, i) => {
    const la = linearAddress(cpu, i);
    const s = cpu.s;
    const base = idt ? s.idtrBase : s.gdtrBase;
    writeLinear(cpu, la, 2, idt ? s.idtrLimit : s.gdtrLimit, 0);
    const lo = base >>> 0;
    if (s.codeSize === 64) writeLinear(cpu, la + 2, 8, lo, hi32(base));
    else writeLinear(cpu, la + 2, 4, lo, 0);
    return 0;
  };
}
function storeSelector(tr) {
  return (cpu, i) => {
    if (realMode(cpu)) cpu.raise({ vector: 6 });
    const sel = tr ? cpu.s.trSel : cpu.s.ldtrSel;
    if (i.r0 !== (-1)) writeReg(cpu, i.r0, i.size, sel, 0);
    else writeLinear(cpu, linearAddress(cpu, i), 2, sel, 0);
    return 0;
  };
}
const ltr = (cpu, i) => {
  if (realMode(cpu)) cpu.raise({ vector: 6 });
  if (cpu.s.cpl !== 0) cpu.raise({ vector: 13, errorCode: 0 });
  const sel = readRm0(cpu, i, 2) & 65535;
  if ((sel & 65532) === 0 || sel & 4) cpu.raise({ vector: 13, errorCode: sel & 65532 });
  const d = readDescriptor(cpu, sel);
  const type = d.attr & 31;
  if (type !== 9 && type !== 1) cpu.raise({ vector: 13, errorCode: sel & 65532 });
  const s = cpu.s;
  let base = d.base;
  if (s.codeSize === 64 || s.efer & EFER_LMA)
    base += readLinear(cpu, s.gdtrBase + (sel & 65528) + 8, 4) * 4294967296;
  const at = s.gdtrBase + (sel & 65528) + 5;
  writeLinear(cpu, at, 1, readLinear(cpu, at, 1) | 2, 0);
  s.trSel = sel;
  s.trBase = base;
  s.trLimit = d.limit;
  s.trAttr = d.attr | 2;
  return 0;
};
const lldt = (cpu, i) => {
  if (realMode(cpu)) cpu.raise({ vector: 6 });
  if (cpu.s.cpl !== 0) cpu.raise({ vector: 13, errorCode: 0 });
  const sel = readRm0(cpu, i, 2) & 65535;
  const s = cpu.s;
  if ((sel & 65532) === 0) {
    s.ldtrSel = sel;
    s.ldtrBase = 0;
    s.ldtrLimit = 0;
    s.ldtrAttr = 0;
    return 0;
  }
  const d = readDescriptor(cpu, sel);
  if ((d.attr & 31) !== 2) cpu.raise({ vector: 13, errorCode: sel & 65532 });
  setAccessed(cpu, sel);
  let base = d.base;
  if (s.codeSize === 64) base += readLinear(cpu, s.gdtrBase + (sel & 65528) + 8, 4) * 4294967296;
  s.ldtrSel = sel;
  s.ldtrBase = base;
  s.ldtrLimit = d.limit;
  s.ldtrAttr = d.attr;
  return 0;
};
function crNumber(reg) {
  return reg >= Register3.CR0 && reg <= Register3.CR15 ? reg - Register3.CR0 : -1;
}
const CR0_TS_MP = 10;
const MOV_CR_INFO_HI = 2147483648;
function movFromCr(cr) {
  return (cpu, i) => {
    const s = cpu.s;
    if (s.cpl !== 0) cpu.raise({ vector: 13, errorCode: 0 });
    if (cpu.vmcb.isIntercept(0 + cr))
      return cpu.intercept(0 + cr, i.r0, 2147483648, 0, 0, cpu.nextRip);
    const v = cr === 0 ? s.cr0 : cr === 2 ? s.cr2 : cr === 3 ? s.cr3 : cr === 4 ? s.cr4 : cpu.vmcb.intCtl & 15;
    const lo = v >>> 0;
    writeReg(cpu, i.r0, s.codeSize === 64 ? 8 : 4, lo, hi32(v));
    return 0;
  };
}
function movToCr(cr) {
  return (cpu, i) => {
    const s = cpu.s;
    if (s.cpl !== 0) cpu.raise({ vector: 13, errorCode: 0 });
    if (cpu.vmcb.isIntercept(16 + cr))
      return cpu.intercept(16 + cr, i.r1, 2147483648, 0, 0, cpu.nextRip);
    const lo = readReg(cpu, i.r1, s.codeSize === 64 ? 8 : 4);
    const hi = cpu.hi;
    if (cr === 0 && cpu.vmcb.isIntercept(101) && ((lo ^ s.cr0) & ~10) !== 0)
      return cpu.intercept(101, i.r1, 2147483648, 0, 0, cpu.nextRip);
    switch (cr) {
      case 0: {
        if (hi !== 0) cpu.raise({ vector: 13, errorCode: 0 });
        if (lo & 2147483648 && !(lo & 1)) cpu.raise({ vector: 13, errorCode: 0 });
        const enablingPaging = lo & 2147483648 && !(s.cr0 & 2147483648);
        if (enablingPaging && s.efer & EFER_LME) {
          if (!(s.cr4 & CR4_PAE)) cpu.raise({ vector: 13, errorCode: 0 });
          s.efer |= EFER_LMA;
        }
        if (!(lo & 2147483648) && s.efer & EFER_LMA) s.efer &= ~EFER_LMA;
        s.cr0 = lo | 16;
        break;
      }
      case 2:
        s.cr2 = (hi | 0) * 4294967296 + lo;
        break;
      case 3:
        s.cr3 = hi * 4294967296 + lo;
        break;
      case 4:
        if (hi !== 0) cpu.raise({ vector: 13, errorCode: 0 });
        if (s.efer & EFER_LMA && !(lo & CR4_PAE)) cpu.raise({ vector: 13, errorCode: 0 });
        s.cr4 = lo;
        break;
      case 8:
        cpu.vmcb.intCtl = cpu.vmcb.intCtl & ~15 | lo & 15;
        break;
      default:
        cpu.raise({ vector: 6 });
    }
    cpu.tlb.flush();
    const trap = cr === 0 || cr === 4 || cr === 8 ? 144 + cr : -1;
    if (cpu.protectedState && trap >= 0 && cpu.vmcb.isIntercept(trap)) {
      s.rip = cpu.nextRip;
      return cpu.intercept(trap, lo, hi, 0, 0);
    }
    return 0;
  };
}
function drNumber(reg) {
  return reg >= Register3.DR0 && reg <= Register3.DR7 ? reg - Register3.DR0 : -1;
}
const CR4_DE = 1 << 3;
function drIndex(cpu, dr) {
  if (dr === 4 || dr === 5) {
    if (cpu.s.cr4 & CR4_DE) cpu.raise({ vector: 6 });
    return dr + 2;
  }
  return dr;
}
function movFromDr(dr) {
  return (cpu, i) => {
    const s = cpu.s;
    if (s.cpl !== 0) cpu.raise({ vector: 13, errorCode: 0 });
    if (cpu.vmcb.isIntercept(32 + dr))
      return cpu.intercept(32 + dr, i.r0, 0, 0, 0, cpu.nextRip);
    const n2 = drIndex(cpu, dr);
    const v = n2 < 4 ? cpu.db[n2] : BigInt(n2 === 6 ? s.dr6 : s.dr7);
    writeReg(cpu, i.r0, s.codeSize === 64 ? 8 : 4, Number(v & 0xffffffffn), Number(v >> 32n));
    return 0;
  };
}
function movToDr(dr) {
  return (cpu, i) => {
    const s = cpu.s;
    if (s.cpl !== 0) cpu.raise({ vector: 13, errorCode: 0 });
    if (cpu.vmcb.isIntercept(48 + dr))
      return cpu.intercept(48 + dr, i.r1, 0, 0, 0, cpu.nextRip);
    const n2 = drIndex(cpu, dr);
    const lo = readReg(cpu, i.r1, s.codeSize === 64 ? 8 : 4);
    const hi = cpu.hi;
    if (n2 < 4) cpu.db[n2] = BigInt(hi) << 32n | BigInt(lo);
    else {
      if (hi !== 0) cpu.raise({ vector: 13, errorCode: 0 });
      if (n2 === 6) s.dr6 = lo;
      else s.dr7 = lo;
    }
    return 0;
  };
}
const movCrB = (ins) => {
  if (ins.op0Kind === OpKind6.Register && crNumber(ins.op0Register) >= 0)
    return movToCr(crNumber(ins.op0Register));
  if (crNumber(ins.op1Register) >= 0) return movFromCr(crNumber(ins.op1Register));
  if (ins.op0Kind === OpKind6.Register && drNumber(ins.op0Register) >= 0)
    return movToDr(drNumber(ins.op0Register));
  if (drNumber(ins.op1Register) >= 0) return movFromDr(drNumber(ins.op1Register));
  return void 0;
};
const invlpg = (cpu) => {
  if (cpu.s.cpl !== 0) cpu.raise({ vector: 13, errorCode: 0 });
  cpu.tlb.flush();
  return 0;
};
function rdtsc(withAux) {
  return (cpu) => {
    const t = cpu.instructions;
    writeReg(cpu, 0, 4, t >>> 0, 0);
    writeReg(cpu, 2, 4, hi32(t), 0);
    if (withAux) writeReg(cpu, 1, 4, 0, 0);
    return 0;
  };
}
const simple = (code) => () => intercepted(code);
const SYSTEM_BUILDERS = [
  [Mnemonic7.In, io(true)],
  [Mnemonic7.Out, io(false)],
  [Mnemonic7.Hlt, simple(120)],
  [Mnemonic7.Cpuid, simple(114)],
  [Mnemonic7.Vmmcall, simple(129)],
  [Mnemonic7.Wbinvd, simple(137)],
  [Mnemonic7.Invd, simple(118)],
  [Mnemonic7.Rdpmc, simple(111)],
  [Mnemonic7.Rdmsr, () => msr(false)],
  [Mnemonic7.Wrmsr, () => msr(true)],
  // VMGEXIT is the #VMEXIT itself (an automatic exit): RIP moves past it when the guest resumes.
  [Mnemonic7.Vmgexit, () => (cpu) => cpu.intercept(1027, 0, 0, 0, 0, cpu.nextRip)],
  [Mnemonic7.Cli, () => interruptFlag(false)],
  [Mnemonic7.Sti, () => interruptFlag(true)],
  [Mnemonic7.Cld, () => setFlag(1024, false)],
  [Mnemonic7.Std, () => setFlag(1024, true)],
  [Mnemonic7.Clc, () => setFlag(1, false)],
  [Mnemonic7.Stc, () => setFlag(1, true)],
  [Mnemonic7.Cmc, () => setFlag(1, "toggle")],
  [Mnemonic7.Pushf, () => pushf(2)],
  [Mnemonic7.Pushfd, () => pushf(4)],
  [Mnemonic7.Pushfq, () => pushf(8)],
  [Mnemonic7.Popf, () => popf(2)],
  [Mnemonic7.Popfd, () => popf(4)],
  [Mnemonic7.Popfq, () => popf(8)],
  [Mnemonic7.Lahf, () => lahf],
  [Mnemonic7.Sahf, () => sahf],
  [Mnemonic7.Lgdt, () => loadTable(false)],
  [Mnemonic7.Lidt, () => loadTable(true)],
  [Mnemonic7.Sgdt, () => storeTable(false)],
  [Mnemonic7.Sidt, () => storeTable(true)],
  [Mnemonic7.Str, () => storeSelector(true)],
  [Mnemonic7.Sldt, () => storeSelector(false)],
  [Mnemonic7.Ltr, () => ltr],
  [Mnemonic7.Lldt, () => lldt],
  [Mnemonic7.Mov, movCrB],
  [Mnemonic7.Invlpg, () => invlpg],
  [Mnemonic7.Rdtsc, () => rdtsc(false)],
  [Mnemonic7.Rdtscp, () => rdtsc(true)],
  // UD2: the architectural invalid opcode.
  [Mnemonic7.Ud2, () => (cpu) => cpu.raise({ vector: 6 })]
];

// src/cpu/x86/ops/xsave.ts
import iced9 from "iced-x86";
var { Code: Code2, Mnemonic: Mnemonic8 } = iced9;
const CR4_OSXSAVE = 1 << 18;
const XFEATURE_FP = 1;
const XFEATURE_SSE = 2;
const XFEATURE_YMM = 4;
const X86_XCR0_SUPPORTED = 1 | 2;
const XINUSE = 4294967295;
const XSAVE_HEADER = 512;
const XSAVE_AREA_SIZE = 576;
function osxsave(cpu) {
  if (!(cpu.s.cr4 & CR4_OSXSAVE)) cpu.raise({ vector: 6 });
}
function xsaveArea(cpu, i) {
  osxsave(cpu);
  if (cpu.s.cr0 & CR0_TS) cpu.raise({ vector: 7 });
  const la = linearAddress(cpu, i);
  if (la & 63) cpu.generalProtection(0);
  return la;
}
const xgetbv = (cpu) => {
  osxsave(cpu);
  if (readReg(cpu, 1, 4) !== 0) cpu.generalProtection(0);
  writeReg(cpu, 0, 4, cpu.xcr0, 0);
  writeReg(cpu, 2, 4, 0, 0);
  return 0;
};
const xsetbv = (cpu) => {
  osxsave(cpu);
  if (!realMode(cpu) && cpu.s.cpl !== 0) cpu.generalProtection(0);
  if (cpu.vmcb.isIntercept(141)) return cpu.intercept(141, 0, 0, 0, 0, cpu.nextRip);
  const lo = readReg(cpu, 0, 4);
  if (readReg(cpu, 1, 4) !== 0 || readReg(cpu, 2, 4) !== 0 || lo & ~X86_XCR0_SUPPORTED || !(lo & 1) || (lo & (2 | 4)) === 4)
    cpu.generalProtection(0);
  cpu.xcr0 = lo;
  return 0;
};
const X87_RANGES = [
  [0, 24],
  [32, 160]
];
const MXCSR_RANGE = [24, 32];
function xsave(wide) {
  return (cpu, i) => {
    const la = xsaveArea(cpu, i);
    const rfbm = cpu.xcr0 & readReg(cpu, 0, 4);
    const bvLo = readLinear(cpu, la + 512, 8);
    const bvHi = cpu.hi;
    const area = new Uint8Array(576);
    const v = new DataView(area.buffer);
    const ranges = [];
    if (rfbm & 1) {
      storeX87(cpu, v, wide);
      ranges.push(...X87_RANGES);
    }
    if (rfbm & (2 | 4)) {
      storeMxcsr(cpu, v);
      ranges.push(MXCSR_RANGE);
    }
    if (rfbm & 2) {
      const n2 = xmmBytes(cpu);
      area.set(cpu.xmmB.subarray(0, n2), 160);
      ranges.push([160, 160 + n2]);
    }
    v.setUint32(512, (bvLo & ~rfbm | 4294967295 & rfbm) >>> 0, true);
    v.setUint32(512 + 4, bvHi, true);
    ranges.push([512, 512 + 8]);
    for (const [from, to] of ranges) probeWrite(cpu, la + from, to - from);
    for (const [from, to] of ranges) writeImage(cpu, la, v, from, to);
    return 0;
  };
}
function initX87(cpu) {
  const f = cpu.fpu;
  f.fcw = 895;
  f.fsw = 0;
  f.ftwx = 0;
  f.lastOpcode = 0;
  f.lastIp = 0n;
  f.lastDp = 0n;
  f.fpr.fill(0);
}
function xrstor(wide) {
  return (cpu, i) => {
    const la = xsaveArea(cpu, i);
    const xcr0 = cpu.xcr0;
    const rfbm = xcr0 & readReg(cpu, 0, 4);
    const area = new Uint8Array(576);
    const v = new DataView(area.buffer);
    readImage(cpu, la, v, 512, 512 + 24);
    for (let off = 512 + 8; off < 512 + 24; off += 4)
      if (v.getUint32(off, true) !== 0) cpu.generalProtection(0);
    const bv = v.getUint32(512, true);
    if (bv & ~xcr0 || v.getUint32(512 + 4, true) !== 0) cpu.generalProtection(0);
    const x87 = rfbm & 1;
    const sse = rfbm & 2;
    const mxcsr = rfbm & (2 | 4);
    const n2 = xmmBytes(cpu);
    if (x87 && bv & 1) for (const [from, to] of X87_RANGES) readImage(cpu, la, v, from, to);
    if (mxcsr) readImage(cpu, la, v, MXCSR_RANGE[0], MXCSR_RANGE[1]);
    if (sse && bv & 2) readImage(cpu, la, v, 160, 160 + n2);
    const newMxcsr = v.getUint32(24, true);
    if (mxcsr && newMxcsr & ~65535) cpu.generalProtection(0);
    if (x87) {
      if (bv & 1) loadX87(cpu, v, wide);
      else initX87(cpu);
    }
    if (mxcsr) cpu.fpu.mxcsr = newMxcsr;
    if (sse) {
      if (bv & 2) cpu.xmmB.set(area.subarray(160, 160 + n2));
      else cpu.xmmB.fill(0, 0, n2);
    }
    return 0;
  };
}
const BY_CODE2 = /* @__PURE__ */ new Map([
  [Code2.Xsave_mem, xsave(false)],
  [Code2.Xsave64_mem, xsave(true)],
  [Code2.Xrstor_mem, xrstor(false)],
  [Code2.Xrstor64_mem, xrstor(true)]
]);
const byCode = (ins) => BY_CODE2.get(ins.code);
const XSAVE_BUILDERS = [
  [Mnemonic8.Xgetbv, () => xgetbv],
  [Mnemonic8.Xsetbv, () => xsetbv],
  [Mnemonic8.Xsave, byCode],
  [Mnemonic8.Xsave64, byCode],
  [Mnemonic8.Xrstor, byCode],
  [Mnemonic8.Xrstor64, byCode]
];

// src/cpu/x86/ops/index.ts
function combine(lists) {
  const byMnemonic = /* @__PURE__ */ new Map();
  for (const list of lists)
    for (const [m, b] of list) {
      const all = byMnemonic.get(m);
      if (all) all.push(b);
      else byMnemonic.set(m, [b]);
    }
  const out = /* @__PURE__ */ new Map();
  for (const [m, all] of byMnemonic) {
    const [first] = all;
    out.set(
      m,
      all.length === 1 ? first : (ins, rec, cs) => {
        for (const b of all) {
          const exec = b(ins, rec, cs);
          if (exec) return exec;
        }
        return void 0;
      }
    );
  }
  return out;
}
const BUILDERS = combine([
  SSE_BUILDERS,
  DATA_BUILDERS,
  ARITH_BUILDERS,
  BRANCH_BUILDERS,
  STRING_BUILDERS,
  SYSTEM_BUILDERS,
  XSAVE_BUILDERS,
  MISC_BUILDERS
]);

// src/cpu/x86/decode.ts
var { Decoder, DecoderOptions, FlowControl, Instruction, Mnemonic: Mnemonic9, MemorySizeExt, OpKind: OpKind7, Register: Register4 } = iced10;
const MAX_BLOCK = 64;
function signed(v, bytes) {
  return Number(BigInt.asIntN(8 * bytes, v));
}
function memoryOperand(ins, rec, asize) {
  rec.asize = asize;
  rec.mseg = segOperand(ins.memorySegment);
  const base = ins.memoryBase;
  rec.ripRel = base === Register4.RIP || base === Register4.EIP;
  rec.mbase = rec.ripRel ? (-1) : gprOperand2(base)?.num ?? (-1);
  rec.mindex = gprOperand2(ins.memoryIndex)?.num ?? (-1);
  rec.mscale = ins.memoryIndexScale;
  const disp2 = signed(ins.memoryDisplacementU64, asize);
  rec.mdisp = rec.ripRel ? disp2 - ins.length : disp2;
}
function operandSize(ins) {
  if (ins.opCount > 0 && ins.op0Kind === OpKind7.Memory) return MemorySizeExt.size(ins.memorySize);
  for (let k = 0; k < ins.opCount; k++) {
    if (ins.opKind(k) === OpKind7.Register) {
      const g = gprOperand2(ins.opRegister(k));
      if (g) return g.size;
    }
  }
  return MemorySizeExt.size(ins.memorySize);
}
function fillCommon(ins, rec, codeSize2) {
  rec.len = ins.length;
  rec.code = ins.code;
  rec.name = Mnemonic9[ins.mnemonic] ?? "INVALID";
  rec.size = operandSize(ins);
  rec.rep = ins.hasRepPrefix || ins.hasRepePrefix ? 1 : ins.hasRepnePrefix ? 2 : 0;
  rec.cc = ins.conditionCode > 0 ? conditionNumber(ins.conditionCode) : 0;
  rec.kind0 = operandKind(ins, 0);
  rec.kind1 = operandKind(ins, 1);
  let regs = 0;
  for (let k = 0; k < ins.opCount; k++) {
    const kind = ins.opKind(k);
    if (kind === OpKind7.Register) {
      const g = gprOperand2(ins.opRegister(k));
      const num = g ? g.num : (-1);
      if (regs === 0) rec.r0 = num;
      else if (regs === 1) rec.r1 = num;
      regs++;
    } else if (kind === OpKind7.Memory) {
      memoryOperand(ins, rec, addressSize(ins, codeSize2));
      if (regs === 0) regs = 1;
    } else if (kind === OpKind7.NearBranch16 || kind === OpKind7.NearBranch32 || kind === OpKind7.NearBranch64) {
      const width = kind === OpKind7.NearBranch16 ? 2 : kind === OpKind7.NearBranch32 ? 4 : 8;
      rec.rel = signed(ins.nearBranchTarget - BigInt(ins.length), width);
    } else if (kind === OpKind7.FarBranch16 || kind === OpKind7.FarBranch32) {
      rec.immLo = kind === OpKind7.FarBranch16 ? ins.farBranch16 : ins.farBranch32;
      rec.imm2 = ins.farBranchSelector;
    } else if (kind === OpKind7.Immediate8_2nd) {
      rec.imm2 = ins.immediate8_2nd;
    } else if (kind >= OpKind7.Immediate8 && kind <= OpKind7.Immediate32to64) {
      const v = BigInt.asUintN(64, ins.immediate(k));
      rec.immLo = Number(v & 0xffffffffn);
      rec.immHi = Number(v >> 32n);
    } else if (kind >= OpKind7.MemorySegSI && kind <= OpKind7.MemoryESRDI) {
      rec.asize = addressSize(ins, codeSize2);
      if (kind <= OpKind7.MemorySegRSI) rec.mseg = segOperand(ins.memorySegment);
    }
  }
}
function operandKind(ins, k) {
  if (k >= ins.opCount) return 0;
  const kind = ins.opKind(k);
  if (kind === OpKind7.Register) return gprOperand2(ins.opRegister(k)) ? 1 : 5;
  if (kind === OpKind7.Memory) return 2;
  if (kind >= OpKind7.Immediate8 && kind <= OpKind7.Immediate32to64) return 3;
  if (kind === OpKind7.NearBranch16 || kind === OpKind7.NearBranch32 || kind === OpKind7.NearBranch64)
    return 4;
  return 5;
}
function addressSize(ins, codeSize2) {
  const reg = ins.memoryBase !== Register4.None ? ins.memoryBase : ins.memoryIndex;
  if (reg === Register4.RIP || reg >= Register4.RAX && reg <= Register4.R15) return 8;
  if (reg === Register4.EIP || reg >= Register4.EAX && reg <= Register4.R15D) return 4;
  if (reg >= Register4.AX && reg <= Register4.R15W) return 2;
  for (let k = 0; k < ins.opCount; k++) {
    const kind = ins.opKind(k);
    if (kind === OpKind7.MemorySegSI || kind === OpKind7.MemoryESDI) return 2;
    if (kind === OpKind7.MemorySegESI || kind === OpKind7.MemoryESEDI) return 4;
    if (kind === OpKind7.MemorySegRSI || kind === OpKind7.MemoryESRDI) return 8;
  }
  const d = ins.memoryDisplSize;
  return d >= 2 ? d : codeSize2 / 8;
}
function conditionNumber(cc) {
  return cc - 1;
}
function decodeBlock(cpu, la, gpa, codeSize2) {
  const off = gpa % 4096;
  const first = cpu.physPage(gpa - off, false);
  let bytes = first.subarray(off);
  const pages = [gpa - off];
  const tail = () => {
    const i = tlbEntry(cpu, la + (4096 - off), 2);
    pages.push(cpu.tlb.gpaPage[i]);
    return cpu.tlb.bytes[i].subarray(0, 15);
  };
  const decoder = new Decoder(codeSize2, bytes, DecoderOptions.None);
  const ins = new Instruction();
  const insns = [];
  let at = 0;
  try {
    while (insns.length < 64 && at < bytes.length) {
      decoder.position = at;
      decoder.ip = 0n;
      decoder.decodeOut(ins);
      if (ins.isInvalid || at + ins.length > bytes.length) {
        if (at + 15 <= first.length - off && ins.isInvalid) {
          insns.push(undecodable(at));
          break;
        }
        if (insns.length > 0) break;
        const more = tail();
        const joined = new Uint8Array(bytes.length + more.length);
        joined.set(bytes);
        joined.set(more, bytes.length);
        bytes = joined;
        return finishCrossing(cpu, bytes, gpa, codeSize2, pages, insns);
      }
      const rec = buildRecord(ins, codeSize2);
      insns.push(rec);
      at += ins.length;
      if (endsBlock(ins)) break;
    }
  } finally {
    ins.free();
    decoder.free();
  }
  return new Block(gpa, codeSize2, insns, bytes.slice(0, at || 1), pages, cpu.blocks.epoch);
}
function finishCrossing(cpu, bytes, gpa, codeSize2, pages, insns) {
  const decoder = new Decoder(codeSize2, bytes, DecoderOptions.None);
  const ins = new Instruction();
  try {
    decoder.ip = 0n;
    decoder.decodeOut(ins);
    insns.push(ins.isInvalid ? undecodable(0) : buildRecord(ins, codeSize2));
    return new Block(
      gpa,
      codeSize2,
      insns,
      bytes.slice(0, ins.isInvalid ? 1 : ins.length),
      pages,
      cpu.blocks.epoch
    );
  } finally {
    ins.free();
    decoder.free();
  }
}
function undecodable(_at) {
  const rec = new Insn(execUnimplemented);
  rec.len = 1;
  rec.name = "INVALID";
  return rec;
}
function buildRecord(ins, codeSize2) {
  const rec = new Insn(execUnimplemented);
  fillCommon(ins, rec, codeSize2);
  const builder = BUILDERS.get(ins.mnemonic);
  const exec = builder?.(ins, rec, codeSize2);
  if (exec) rec.exec = exec;
  return rec;
}
function endsBlock(ins) {
  if (ins.flowControl !== FlowControl.Next) return true;
  switch (ins.mnemonic) {
    case Mnemonic9.Mov:
      return ins.op0Kind === OpKind7.Register && (ins.op0Register >= Register4.CR0 || ins.op0Register === Register4.SS);
    case Mnemonic9.Lgdt:
    case Mnemonic9.Lidt:
    case Mnemonic9.Hlt:
    case Mnemonic9.Sti:
    case Mnemonic9.Popf:
    case Mnemonic9.Wrmsr:
      return true;
    default:
      return false;
  }
}

// src/cpu/x86/exceptions.ts
const FAULTS = /* @__PURE__ */ new Set([0, 5, 6, 7, 10, 11, 12, 13, 14, 16, 17, 19, 20, 21, 29]);
function pushedFlags(flags, p2) {
  return !p2.soft && !p2.injected && FAULTS.has(p2.vector) ? flags | 65536 : flags;
}
function deliverEvent(cpu, inj, err) {
  const vector = inj & 255;
  const type = inj & SVM_EVTINJ_TYPE_MASK;
  const withErr = (inj & SVM_EVTINJ_VALID_ERR) !== 0;
  deliverException(cpu, {
    vector,
    ...withErr && type === SVM_EVTINJ_TYPE_EXEPT ? { errorCode: err } : {},
    ...type === SVM_EVTINJ_TYPE_SOFT ? { soft: true } : {},
    injected: true
  });
}
function deliverException(cpu, p2) {
  try {
    if (realMode(cpu)) deliverReal(cpu, p2);
    else if (cpu.s.codeSize === 64 || cpu.s.efer & 1024) deliverLong(cpu, p2);
    else deliverProtected(cpu, p2);
  } catch (e) {
    if (e !== STOP_SIGNAL || !cpu.pending) throw e;
    const second = cpu.pending.vector;
    if (p2.vector === 8) cpu.shutdown();
    const firstPf = p2.vector === 14;
    const firstContrib = isContributory(p2.vector);
    if (firstContrib && isContributory(second) || firstPf && (isContributory(second) || second === 14))
      cpu.pending = { vector: 8, errorCode: 0 };
    throw e;
  }
}
function deliverReal(cpu, p2) {
  const s = cpu.s;
  const at = p2.vector * 4;
  if (at + 3 > s.idtrLimit) cpu.raise({ vector: 13, errorCode: 0 });
  const entry = readLinear(cpu, s.idtrBase + at, 4);
  const flags = readRflags(cpu.f);
  push2(cpu, 2, flags & 65535, 0);
  push2(cpu, 2, s.segSel[1], 0);
  push2(cpu, 2, s.rip & 65535, 0);
  writeRflags(cpu.f, flags & ~(512 | 256 | 262144 | 65536));
  loadRealSegment(cpu, 1, entry >>> 16);
  s.rip = entry & 65535;
}
function gate(cpu, p2, size) {
  const s = cpu.s;
  const at = p2.vector * size;
  const ext = p2.soft ? 0 : 1;
  if (at + size - 1 > s.idtrLimit) cpu.raise({ vector: 13, errorCode: at + 2 + ext });
  const saved = s.cpl;
  s.cpl = 0;
  try {
    const lo = readLinear(cpu, s.idtrBase + at, 4);
    const hi = readLinear(cpu, s.idtrBase + at + 4, 4);
    const hi2 = size === 16 ? readLinear(cpu, s.idtrBase + at + 8, 4) : 0;
    const type = hi >>> 8 & 31;
    const dpl = hi >>> 13 & 3;
    const ok4 = size === 16 ? type === 14 || type === 15 : type === 14 || type === 15 || type === 6 || type === 7;
    if (!ok4) cpu.raise({ vector: 13, errorCode: at + 2 + ext });
    if (p2.soft && dpl < saved) cpu.raise({ vector: 13, errorCode: at + 2 });
    if (!(hi & 32768)) cpu.raise({ vector: 11, errorCode: at + 2 + ext });
    return { lo, hi, hi2 };
  } finally {
    s.cpl = saved;
  }
}
function gateTarget(cpu, sel) {
  if ((sel & 65532) === 0) cpu.raise({ vector: 13, errorCode: 0 });
  const d = readDescriptor(cpu, sel);
  const dpl = d.attr >>> 5 & 3;
  if (!(d.attr & 8) || dpl > cpu.s.cpl) cpu.raise({ vector: 13, errorCode: sel & 65532 });
  if (!(d.attr & SVM_SELECTOR_P_MASK)) cpu.raise({ vector: 11, errorCode: sel & 65532 });
  return { dpl, d };
}
function deliverProtected(cpu, p2) {
  const s = cpu.s;
  const g = gate(cpu, p2, 8);
  const sel = g.lo >>> 16;
  const offset = (g.hi & 4294901760 | g.lo & 65535) >>> 0;
  const type = g.hi >>> 8 & 31;
  const width = type & 8 ? 4 : 2;
  const { dpl, d } = gateTarget(cpu, sel);
  const flags = readRflags(cpu.f);
  const oldSs = s.segSel[2];
  const oldEsp = getRsp(cpu) >>> 0;
  const oldCs = s.segSel[1];
  const oldEip = s.rip >>> 0;
  if (dpl < s.cpl) {
    const at = s.trBase + 4 + 8 * dpl;
    s.cpl = 0;
    const esp = readLinear(cpu, at, 4);
    const ss = readLinear(cpu, at + 4, 2);
    const sd = readDescriptor(cpu, ss);
    s.cpl = dpl;
    setSegment(cpu, 2, ss, sd);
    setRsp2(cpu, esp, 4);
    push2(cpu, width, oldSs, 0);
    push2(cpu, width, oldEsp, 0);
  }
  push2(cpu, width, pushedFlags(flags, p2), 0);
  push2(cpu, width, oldCs, 0);
  push2(cpu, width, oldEip, 0);
  if (p2.errorCode !== void 0 && !p2.soft) push2(cpu, width, p2.errorCode, 0);
  setAccessed(cpu, sel);
  setSegment(cpu, 1, sel & 65532 | dpl, d);
  s.cpl = dpl;
  const clear = 256 | 16384 | 65536 | 131072 | ((type & 7) === 6 ? 512 : 0);
  writeRflags(cpu.f, flags & ~clear);
  s.rip = offset;
}
function deliverLong(cpu, p2) {
  const s = cpu.s;
  const g = gate(cpu, p2, 16);
  const sel = g.lo >>> 16;
  const offLo = (g.hi & 4294901760 | g.lo & 65535) >>> 0;
  const offset = (g.hi2 | 0) * 4294967296 + offLo;
  const ist = g.hi >>> 0 & 7;
  const type = g.hi >>> 8 & 31;
  const { dpl, d } = gateTarget(cpu, sel);
  const flags = readRflags(cpu.f);
  const oldSs = s.segSel[2];
  const oldRsp = getRsp(cpu);
  const oldCs = s.segSel[1];
  const oldRip = s.rip;
  let rsp2 = oldRsp;
  const saved = s.cpl;
  if (ist !== 0 || dpl < s.cpl) {
    const at = s.trBase + (ist !== 0 ? 36 + 8 * (ist - 1) : 4 + 8 * dpl);
    s.cpl = 0;
    const lo = readLinear(cpu, at, 8);
    rsp2 = (cpu.hi | 0) * 4294967296 + lo;
    s.cpl = saved;
  }
  if (dpl < saved) {
    setSegment(cpu, 2, dpl, { base: 0, limit: 0, attr: 0 });
  }
  rsp2 -= (rsp2 % 16 + 16) % 16;
  s.cpl = dpl;
  setRsp2(cpu, rsp2, 8);
  setSegment(cpu, 1, sel & 65532 | dpl, d);
  push2(cpu, 8, oldSs, 0);
  push2(cpu, 8, oldRsp >>> 0, hi32(oldRsp));
  push2(cpu, 8, pushedFlags(flags, p2), 0);
  push2(cpu, 8, oldCs, 0);
  push2(cpu, 8, oldRip >>> 0, hi32(oldRip));
  if (p2.errorCode !== void 0 && !p2.soft) push2(cpu, 8, p2.errorCode, 0);
  setAccessed(cpu, sel);
  const clear = 256 | 16384 | 65536 | 131072 | ((type & 1) === 0 ? 512 : 0);
  writeRflags(cpu.f, flags & ~clear);
  s.rip = offset;
}

// src/cpu/x86/cpu.ts
const TWO3211 = 4294967296;
const X86Cpu = class {
  protectedState;
  s;
  f = new Flags();
  vmcb;
  mem;
  /** The save area VMRUN loads: the VMCB's, or the CPU's own VMSA for an SEV-ES guest. */
  save;
  /** Fetching decode-assist bytes: a failed access ends them instead of exiting. */
  #probing = false;
  /** The nested page table generation the TLB was filled under. */
  #memGen = -1;
  /** SEV-ES: the VMSA is taken from the VMCB's save area at the first VMRUN (the launch). */
  #vmsaTaken = false;
  tlb = new Tlb();
  blocks = new BlockCache();
  /** DR0-DR3: KVM's vcpu->arch.db, loaded into the CPU around VMRUN (an SEV-ES guest's own). */
  db;
  /**
   * The x87/SSE state: KVM's guest FPU (CpuAttachment.fpu), used in place, or for an SEV-ES guest
   * the CPU's own (the VMSA's). xmmB/W/D view its XMM0-15 bytes (register r at 16 r) as bytes,
   * words and dwords (little-endian host).
   */
  fpu;
  xmmB;
  xmmW;
  xmmD;
  /**
   * XCR0 (bits 31:0; this CPU has no state component above 1, so 63:32 are 0): the RESET value 1,
   * KVM's vcpu->arch.xcr0 from each VMRUN on (`#kvmXcr0`), an SEV-ES guest's VMSA value from its
   * first VMRUN (then its own, as its XMM registers are).
   */
  xcr0 = 1;
  /** KVM's vcpu->arch.xcr0 as u32 halves (CpuAttachment.xcr0), or undefined. */
  #kvmXcr0;
  /** Bits 63:32 of the last value read (mmu.ts). */
  hi = 0;
  /** Scratch for page walks. */
  pteLo = 0;
  pteHi = 0;
  /** RIP of the next instruction while one executes; branches set it. */
  nextRip = 0;
  /** Instructions retired since the vCPU was created. */
  instructions = 0;
  /** Unimplemented instructions met (each raised #UD), by mnemonic: the coverage gaps. */
  unimplemented = /* @__PURE__ */ new Map();
  /**
   * The interrupt shadow (after STI, MOV SS): interrupts stay blocked while RIP is here, i.e. until
   * the instruction after the one that set it has run. -1: none. Reported to KVM in int_state.
   */
  shadowRip = -1;
  /** The block that ran to its end last, whose successor cache the next fetch may use. */
  #prev;
  /** An exception recorded by a faulting instruction, delivered by the loop. */
  pending;
  /** The #VMEXIT is written: VMRUN returns. */
  exited = false;
  /** Run hot blocks compiled (X86CpuOptions.compile); may be changed between runs. */
  compile;
  /** Interpreted runs of a block before it is compiled (X86CpuOptions.compileThreshold). */
  compileThreshold;
  /**
   * Instructions a compiled block completed before the one that threw STOP_SIGNAL: generated code
   * writes it before anything that can throw, where the interpreter's loop has its counter.
   */
  compiledDone = 0;
  constructor(protectedState = false, options = {}) {
    this.protectedState = protectedState;
    this.compile = options.compile ?? true;
    this.compileThreshold = options.compileThreshold ?? 2000;
  }
  attach(hw) {
    this.vmcb = hw.vmcb;
    this.mem = hw.mem;
    this.db = hw.db ?? new BigUint64Array(4);
    this.fpu = hw.fpu ?? resetFpu();
    const x = this.fpu.xmm;
    this.xmmB = x;
    this.xmmW = new Uint16Array(x.buffer, x.byteOffset, 128);
    this.xmmD = new Uint32Array(x.buffer, x.byteOffset, 64);
    const xcr = hw.xcr0;
    this.#kvmXcr0 = xcr ? new Uint32Array(xcr.buffer, xcr.byteOffset, 2) : void 0;
    this.save = hw.vmcb.save;
    this.s = new X86State(this.protectedState ? newGprs() : hw.regs);
  }
  vmrun(budget) {
    const s = this.s;
    if (!this.protectedState) {
      s.load(this.save);
      writeRflags(this.f, s.rflags);
      if (this.#kvmXcr0) this.xcr0 = this.#kvmXcr0[0];
    } else if (!this.#vmsaTaken) {
      this.save = new DataView(this.vmcb.save.buffer.slice(0));
      this.#vmsaTaken = true;
      s.load(this.save);
      this.xcr0 = this.save.getUint32(1000, true);
      writeRflags(this.f, s.rflags);
    }
    this.exited = false;
    this.pending = void 0;
    const gen = this.mem.generation;
    const tlb = this.tlb;
    if (gen === void 0 || gen !== this.#memGen || this.vmcb.tlbCtl !== 0) {
      tlb.flush();
      this.#memGen = gen ?? -1;
    }
    if (s.cr0 !== tlb.cr0 || s.cr3 !== tlb.cr3 || s.cr4 !== tlb.cr4 || s.efer !== tlb.efer) {
      tlb.flush();
      tlb.cr0 = s.cr0;
      tlb.cr3 = s.cr3;
      tlb.cr4 = s.cr4;
      tlb.efer = s.efer;
    }
    this.blocks.epoch++;
    const vmcb = this.vmcb;
    const inj = vmcb.eventInj;
    if (inj & 2147483648) {
      vmcb.eventInj = 0;
      this.#guard(() => deliverEvent(this, inj, vmcb.eventInjErr));
    }
    const irqWindow = (vmcb.intCtl & V_IRQ_MASK) !== 0 && vmcb.isIntercept(100);
    this.shadowRip = vmcb.intState & 1 ? s.rip : -1;
    this.#prev = void 0;
    let n2 = 0;
    while (!this.exited) {
      if (n2 >= budget) {
        this.exit(96, 0, 0, 0, 0);
        break;
      }
      if (irqWindow && readRflags(this.f) & 512 && s.rip !== this.shadowRip) {
        this.exit(100, 0, 0, 0, 0);
        break;
      }
      n2 += this.#runBlock(budget - n2);
    }
    if (!this.protectedState) {
      s.rflags = readRflags(this.f);
      s.store(this.save);
    }
    const shadow = s.rip === this.shadowRip ? 1 : 0;
    vmcb.intState = vmcb.intState & ~1 | shadow;
  }
  /**
   * Run one block from RIP (or until an instruction stops); returns the instructions retired. A hot
   * block runs as its compiled form (compile/), which keeps this loop's protocol: the same RIP,
   * nextRip and count at a stop or a fault, delivered here the same way. A compiled block that
   * branches to itself may run again as vmrun would run it next, while `remaining` (the budget
   * vmrun has left) allows.
   */
  #runBlock(remaining) {
    const s = this.s;
    let done = 0;
    let compiled;
    try {
      const b = this.#fetchBlock();
      const insns = b.insns;
      const shadow = s.rip === this.shadowRip;
      const end = shadow ? 1 : insns.length;
      compiled = shadow ? void 0 : compiledForm(this, b);
      if (compiled) {
        done = compiled(this, remaining);
        compiled = void 0;
        if (done < end) {
          this.#prev = void 0;
          if (this.pending) this.#deliverPending();
        }
      } else {
        const wrap = b.codeSize === 64 ? 0 : b.codeSize === 32 ? 4294967296 : 65536;
        for (let k = 0; k < end; k++) {
          const i = insns[k];
          const next = s.rip + i.len;
          this.nextRip = wrap && next >= wrap ? next - wrap : next;
          if (i.exec(this, i) !== 0) {
            this.#prev = void 0;
            if (this.pending) this.#deliverPending();
            break;
          }
          s.rip = this.nextRip;
          done++;
        }
      }
      if (done >= insns.length) this.#prev = b;
      else if (done === end) this.#prev = void 0;
      if (done > 0 && this.f.bits & 65536) this.f.bits &= ~65536;
    } catch (e) {
      this.#prev = void 0;
      if (e !== STOP_SIGNAL) throw e;
      if (compiled) done = this.compiledDone;
      this.#deliverPending();
    }
    this.instructions += done;
    return done || 1;
  }
  /** Run `fn`, catching a fault it raises (event injection at VMRUN). */
  #guard(fn) {
    try {
      fn();
    } catch (e) {
      if (e !== STOP_SIGNAL) throw e;
      this.#deliverPending();
    }
  }
  /** Deliver the exception a faulting instruction recorded (exceptions.ts handles #DF and shutdown). */
  #deliverPending() {
    for (; ; ) {
      const p2 = this.pending;
      if (!p2 || this.exited) return;
      this.pending = void 0;
      const code = 64 + p2.vector;
      if (!p2.soft && this.vmcb.isIntercept(code)) {
        const cr2 = p2.vector === 14 ? this.s.cr2 : 0;
        this.intercept(code, p2.errorCode ?? 0, 0, cr2 >>> 0, hi32(cr2));
        continue;
      }
      try {
        deliverException(this, p2);
        return;
      } catch (e) {
        if (e !== STOP_SIGNAL) throw e;
      }
    }
  }
  /**
   * The block at CS:RIP: the successor the previous block went to last time when nothing it
   * depends on changed (the same RIP and code size, no TLB change, the block still live and checked
   * in this epoch), else looked up by guest-physical address, decoded on a miss or when its bytes
   * changed since it last ran.
   */
  #fetchBlock() {
    const s = this.s;
    const prev = this.#prev;
    if (prev) {
      const next = prev.succ;
      if (next && prev.succRip === s.rip && prev.succGen === this.tlb.generation && next.live && next.epoch === this.blocks.epoch && next.codeSize === s.codeSize)
        return next;
    }
    const b = this.#lookupBlock();
    if (prev) {
      prev.succ = b;
      prev.succRip = s.rip;
      prev.succGen = this.tlb.generation;
    }
    return b;
  }
  #lookupBlock() {
    const s = this.s;
    const la = s.codeSize === 64 ? s.rip : s.segBase[1] + s.rip;
    const i = tlbEntry(this, la, 2);
    const off = pageOffset(la);
    const gpa = this.tlb.gpaPage[i] + off;
    const mode = s.codeSize;
    const blocks = this.blocks;
    let b = blocks.lookup(gpa, mode);
    if (b && b.epoch !== blocks.epoch) {
      if (this.#sameBytes(b, this.tlb.bytes[i])) b.epoch = blocks.epoch;
      else {
        blocks.remove(b);
        b = void 0;
      }
    }
    if (!b) {
      b = decodeBlock(this, la, gpa, mode);
      blocks.insert(b);
      for (const p2 of b.pages) this.tlb.dropWritable(p2);
    }
    return b;
  }
  /**
   * Whether a block's bytes are still in guest memory: compared in `page`, the view of its first
   * page the fetch just mapped (a block crossing into a second page asks for that one).
   */
  #sameBytes(b, page) {
    const bytes = b.bytes;
    const off = b.gpa % 4096;
    const first = Math.min(bytes.length, 4096 - off);
    for (let k = 0; k < first; k++) if (page[off + k] !== bytes[k]) return false;
    if (first === bytes.length) return true;
    const second = b.pages[1];
    const next = second === void 0 ? void 0 : this.mem.page?.(second, false);
    if (!next) return false;
    for (let k = first; k < bytes.length; k++) if (next[k - first] !== bytes[k]) return false;
    return true;
  }
  /**
   * The RAM page holding a GPA, for the walker and the TLB; a GPA that is not RAM ends the access
   * with a nested page fault, or a #VC for an SEV-ES guest's MMIO.
   */
  physPage(gpa, write) {
    const page = this.mem.page?.(gpa - gpa % 4096, write);
    if (page) return page;
    if (this.#probing) throw STOP_SIGNAL;
    const probe = new Uint8Array(1);
    const r = write ? this.mem.write(gpa, probe) : this.mem.read(gpa, probe);
    if (r === 0) throw new Error("GuestPhysMemory.page refused a page read/write accepts");
    if (r === 2 && this.protectedState) this.raise({ vector: VC_VECTOR2, errorCode: 1024 });
    let err = write ? 2 : 0;
    if (r === 2) err |= 8 | 1;
    else if (r === 3) err |= 1;
    this.#npfExit(gpa, err);
  }
  /** SVM_EXIT_NPF with decode assist: the faulting GPA, the error code, the instruction's bytes. */
  #npfExit(gpa, err) {
    this.exit(1024, err, 1, gpa >>> 0, Math.floor(gpa / 4294967296));
    this.#fillInsnBytes();
    throw STOP_SIGNAL;
  }
  /**
   * Decode assist: up to 15 bytes at CS:RIP, as far as they can be fetched (a fetch that would
   * fault ends them; nothing is raised).
   */
  #fillInsnBytes() {
    const s = this.s;
    const la = s.codeSize === 64 ? s.rip : s.segBase[1] + s.rip;
    const bytes = this.vmcb.insnBytes;
    const pending = this.pending;
    const cr2 = s.cr2;
    let n2 = 0;
    this.#probing = true;
    try {
      for (; n2 < 15; n2++) {
        const a = la + n2;
        const i = tlbEntry(this, a, 2);
        bytes[n2] = this.tlb.bytes[i][pageOffset(a)];
      }
    } catch (e) {
      if (e !== STOP_SIGNAL) throw e;
      this.pending = pending;
      s.cr2 = cr2;
    } finally {
      this.#probing = false;
    }
    this.vmcb.insnLen = n2;
  }
  /**
   * An intercepted event at an instruction boundary: the #VMEXIT (next_rip: the instruction's end
   * for instruction intercepts, 0 otherwise), or for an SEV-ES guest's non-automatic exit, #VC.
   */
  intercept(code, info1Lo, info1Hi, info2Lo, info2Hi, next = 0) {
    if (this.protectedState) {
      if (!sevEsExitIsAutomatic(code, info1Lo)) {
        this.pending = { vector: VC_VECTOR2, errorCode: code };
        return 1;
      }
      if (code === 1027 || code === 120 || code === 119) this.s.rip = next;
    }
    this.exit(code, info1Lo, info1Hi, info2Lo, info2Hi, next);
    return 1;
  }
  /** Write a #VMEXIT into the VMCB control area; VMRUN returns after the current instruction. */
  exit(code, info1Lo, info1Hi, info2Lo, info2Hi, next = 0) {
    const vmcb = this.vmcb;
    vmcb.setExit(code, info1Lo, info1Hi, info2Lo, info2Hi);
    vmcb.control.setUint32(200, next >>> 0, true);
    vmcb.control.setUint32(200 + 4, hi32(next), true);
    vmcb.insnLen = 0;
    this.exited = true;
  }
  /** Record a guest exception and abandon the current instruction. */
  raise(p2) {
    this.pending = p2;
    throw STOP_SIGNAL;
  }
  /** #PF: CR2 = the linear address. */
  pageFault(la, errorCode) {
    this.s.cr2 = la;
    this.raise({ vector: 14, errorCode });
  }
  /** #GP(errorCode). */
  generalProtection(errorCode) {
    this.raise({ vector: 13, errorCode });
  }
  /** Triple fault: SVM_EXIT_SHUTDOWN (KVM always intercepts it). */
  shutdown() {
    this.exit(127, 0, 0, 0, 0);
    throw STOP_SIGNAL;
  }
  /** An instruction the interpreter does not implement: #UD, counted by name. */
  unimplementedInsn(name) {
    this.unimplemented.set(name, (this.unimplemented.get(name) ?? 0) + 1);
    this.raise({ vector: 6 });
  }
};

// src/uapi/kvm-error.ts
const SysError = class extends Error {
  constructor(code, detail) {
    super(detail ? `${code}: ${detail}` : code);
    this.code = code;
    this.name = "SysError";
    this.errno = errnoValue(code);
  }
  code;
  errno;
};
const KvmError = class extends SysError {
  constructor(code, detail) {
    super(code, detail);
    this.name = "KvmError";
  }
};

// src/host/chunks.ts
const CHUNK_SIZE = 65536;
const VIEW_SIZE = 4096;
const VIEWS_PER_CHUNK = 65536 / 4096;
const pageViews = /* @__PURE__ */ new WeakMap();
function chunkView(chunk, co, k) {
  if (k === 65536) return chunk;
  if (k === 4096 && co % 4096 === 0) {
    let views = pageViews.get(chunk);
    if (views === void 0) {
      views = new Array(VIEWS_PER_CHUNK).fill(void 0);
      pageViews.set(chunk, views);
    }
    const p2 = co / 4096;
    let v = views[p2];
    if (v === void 0) {
      v = new Uint8Array(chunk.buffer, chunk.byteOffset + co, k);
      views[p2] = v;
    }
    return v;
  }
  return new Uint8Array(chunk.buffer, chunk.byteOffset + co, k);
}
function readChunks(chunks, pos, dst, off, n2) {
  while (n2 > 0) {
    const ci = Math.floor(pos / 65536);
    const co = pos - ci * 65536;
    const k = Math.min(n2, 65536 - co);
    const chunk = chunks.get(ci);
    if (chunk === void 0) dst.fill(0, off, off + k);
    else dst.set(chunkView(chunk, co, k), off);
    pos += k;
    off += k;
    n2 -= k;
  }
}
function writeChunks(chunks, pos, src, off, n2) {
  while (n2 > 0) {
    const ci = Math.floor(pos / 65536);
    const co = pos - ci * 65536;
    const k = Math.min(n2, 65536 - co);
    chunkAt(chunks, ci).set(off === 0 && k === src.length ? src : src.subarray(off, off + k), co);
    pos += k;
    off += k;
    n2 -= k;
  }
}
function chunkAt(chunks, ci) {
  let chunk = chunks.get(ci);
  if (chunk === void 0) {
    chunk = new Uint8Array(65536);
    chunks.set(ci, chunk);
  }
  return chunk;
}
function chunkIndicesIn(keys, start, end) {
  if (end <= start) return [];
  const first = Math.floor(start / 65536);
  const last = Math.floor((end - 1) / 65536);
  const out = [];
  if (last - first + 1 <= keys.size) {
    for (let ci = first; ci <= last; ci++) if (keys.has(ci)) out.push(ci);
  } else {
    for (const ci of keys.keys()) if (ci >= first && ci <= last) out.push(ci);
  }
  return out;
}
function zeroChunks(chunks, start, end) {
  for (const ci of chunkIndicesIn(chunks, start, end)) {
    const base = ci * 65536;
    const lo = Math.max(start, base) - base;
    const hi = Math.min(end, base + 65536) - base;
    if (lo === 0 && hi === 65536) chunks.delete(ci);
    else chunks.get(ci)?.fill(0, lo, hi);
  }
}

// src/host/page.ts
const PAGE_SIZE3 = 4096;
function pageAligned(n2) {
  return n2 % 4096 === 0;
}
function pageAlignDown(n2) {
  return n2 - n2 % 4096;
}
function pageAlignUp(n2) {
  const rem = n2 % 4096;
  return rem === 0 ? n2 : n2 + (4096 - rem);
}

// src/host/ranges.ts
function firstEndingAfter(sorted, pos) {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = lo + hi >>> 1;
    if (sorted[mid].end <= pos) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// src/host/address-space.ts
const PROT_NONE = 0;
const PROT_READ = 1;
const PROT_WRITE = 2;
const USER_ADDR_LIMIT = 140737488351232;
const MMAP_BASE = 139637976727552;
const MMAP_MIN_ADDR = 65536;
function fault(kind, hva) {
  return { kind, hva };
}
function checkProt(prot) {
  if (!Number.isInteger(prot) || (prot & ~(1 | 2)) !== 0) {
    throw new SysError("EINVAL", `prot ${prot}`);
  }
}
function canMerge(a, b) {
  return a.end === b.start && a.kind === b.kind && a.prot === b.prot && a.file === b.file && (a.kind !== "file" || a.fileOffset + (a.end - a.start) === b.fileOffset);
}
function hex(n2) {
  return `0x${n2.toString(16)}`;
}
const HostAddressSpace = class {
  /** Exclusive upper bound of usable hvas. */
  limit;
  /** Sorted, non-overlapping, adjacent compatible ones merged. */
  #vmas = [];
  /** Last VMA found by #lookup: guest memory accesses cluster, so this makes repeats O(1). */
  #cache;
  #chunks = /* @__PURE__ */ new Map();
  /** Per chunk, a bit per page: populated by UFFDIO_COPY/ZEROPAGE (missing mappings only). */
  #populated = /* @__PURE__ */ new Map();
  #generation = 0;
  /** An empty address space whose hvas lie in [0, limit); limit defaults to USER_ADDR_LIMIT. */
  constructor(opts) {
    const limit = opts?.limit ?? 140737488351232;
    if (!Number.isSafeInteger(limit) || limit <= 0 || !pageAligned(limit)) {
      throw new SysError("EINVAL", `address-space limit ${limit}`);
    }
    this.limit = limit;
  }
  /**
   * Bumped by every change that can invalidate a view `view()` handed out or a fault it reported:
   * mmap, munmap, mprotect, UFFDIO_COPY/ZEROPAGE here, and a size change of a mapped file. KVM's
   * caches of host pages (nested page table entries, the GHCB mapping) compare it before use, as the
   * MMU notifiers tell real KVM to drop its mappings.
   */
  get generation() {
    return this.#generation;
  }
  /** HostFileMapper: a file mapped here changed size (ftruncate, or a write past EOF). */
  fileResized(_file) {
    this.#generation++;
  }
  /** mmap(MAP_ANONYMOUS|MAP_FIXED): replaces whatever was mapped there. Sparse: costs nothing until written; unwritten pages read as zero. */
  mapAnonymous(hva, length, prot = 1 | 2) {
    this.#checkRange(hva, length, "mmap");
    checkProt(prot);
    this.#removeRange(hva, hva + length);
    this.#insert({ start: hva, end: hva + length, prot, kind: "anonymous", file: void 0, fileOffset: 0 });
  }
  /** mmap(MAP_SHARED|MAP_FIXED) of `file` at `fileOffset` (page aligned). Pages wholly beyond EOF fault 'beyond-eof' (SIGBUS); the part of the last page past EOF reads as zero, and writes there do not extend the file. */
  mapFile(hva, length, file, fileOffset, prot = 1 | 2) {
    this.#checkRange(hva, length, "mmap");
    checkProt(prot);
    if (!Number.isSafeInteger(fileOffset) || fileOffset < 0 || !pageAligned(fileOffset)) {
      throw new SysError("EINVAL", `mmap file offset ${fileOffset}`);
    }
    this.#removeRange(hva, hva + length);
    this.#insert({ start: hva, end: hva + length, prot, kind: "file", file, fileOffset });
    file.addMapper(this);
  }
  /** Anonymous memory registered with userfaultfd in MISSING mode: every page faults 'missing' until populated. */
  mapMissing(hva, length, prot = 1 | 2) {
    this.#checkRange(hva, length, "mmap");
    checkProt(prot);
    this.#removeRange(hva, hva + length);
    this.#insert({ start: hva, end: hva + length, prot, kind: "missing", file: void 0, fileOffset: 0 });
  }
  /**
   * UFFDIO_COPY: fill whole missing pages starting at page-aligned hva with data (length a multiple of
   * 4096) and make them present. Throws SysError EEXIST if a page is already populated, EINVAL if not in a
   * missing-registered mapping or misaligned. All or nothing: nothing is copied when it throws (Linux
   * would copy the pages before the first populated one and report a partial count).
   */
  populate(hva, data) {
    this.#populate(hva, data.length, data);
  }
  /** UFFDIO_ZEROPAGE equivalent: populate with zeros. */
  populateZero(hva, length) {
    this.#populate(hva, length, void 0);
  }
  /** munmap: the range reads as unmapped afterwards and its contents are discarded; unmapping nothing is fine. */
  unmap(hva, length) {
    this.#checkRange(hva, length, "munmap");
    this.#removeRange(hva, hva + length);
  }
  /**
   * mprotect: change the protection of every page in the range, splitting mappings at its edges. As in
   * Linux, a hole makes it fail with ENOMEM after the mappings before the hole have been changed.
   */
  protect(hva, length, prot) {
    this.#checkRange(hva, length, "mprotect");
    checkProt(prot);
    const end = hva + length;
    const v = this.#vmas;
    this.#cache = void 0;
    this.#generation++;
    const first = firstEndingAfter(this.#vmas, hva);
    let i = first;
    let pos = hva;
    let hole = false;
    while (pos < end) {
      let m = v[i];
      if (m === void 0 || m.start > pos) {
        hole = true;
        break;
      }
      if (m.prot !== prot) {
        if (m.start < pos) {
          const right = this.#splitAt(i, pos);
          i++;
          m = right;
        }
        if (m.end > end) this.#splitAt(i, end);
        m.prot = prot;
      }
      pos = m.end;
      i++;
    }
    this.#mergeWindow(first - 1, i);
    if (hole) throw new SysError("ENOMEM", `mprotect: ${hex(pos)} is not mapped`);
  }
  /** Find a free range of `length` bytes (page multiple) above a base, like mmap(NULL): returns its hva, maps nothing. */
  findFree(length) {
    if (!Number.isSafeInteger(length) || length <= 0 || !pageAligned(length)) {
      throw new SysError("EINVAL", `findFree length ${length}`);
    }
    const base = 139637976727552 < this.limit ? 139637976727552 : 65536;
    const found = this.#gapFrom(base, length);
    if (found !== void 0) return found;
    const fallback = base === 65536 ? void 0 : this.#gapFrom(65536, length);
    if (fallback !== void 0) return fallback;
    throw new SysError("ENOMEM", `no free range of ${length} bytes`);
  }
  /** copy_from_user: copy dst.length bytes from hva. Returns undefined on success, else the fault (dst contents then unspecified). */
  read(hva, dst) {
    const len = dst.length;
    const c = this.#cache;
    if (c !== void 0 && c.kind === "anonymous" && c.prot !== 0 && hva >= c.start && hva + len <= c.end) {
      readChunks(this.#chunks, hva, dst, 0, len);
      return void 0;
    }
    return this.#copy(hva, dst, false);
  }
  /** copy_to_user: copy src to hva. Bytes before the first failing page are stored, as with the real thing. */
  write(hva, src) {
    const len = src.length;
    const c = this.#cache;
    if (c !== void 0 && c.kind === "anonymous" && (c.prot & 2) !== 0 && hva >= c.start && hva + len <= c.end) {
      writeChunks(this.#chunks, hva, src, 0, len);
      return void 0;
    }
    return this.#copy(hva, src, true);
  }
  /**
   * The slow path of read and write: walk the mappings page run by page run, stopping at the first
   * byte that faults. Bytes before it are copied (as copy_to_user / copy_from_user leave them).
   */
  #copy(hva, buf, write) {
    const len = buf.length;
    let pos = hva;
    let off = 0;
    while (off < len) {
      const m = this.#lookup(pos);
      if (m === void 0) return fault("unmapped", pos);
      if (write ? (m.prot & 2) === 0 : m.prot === 0) return fault("protection", pos);
      const n2 = Math.min(len - off, m.end - pos);
      if (m.kind === "file") {
        const file = m.file;
        const fo = m.fileOffset + (pos - m.start);
        const ok4 = Math.min(n2, pageAlignUp(file.size) - fo);
        if (ok4 > 0) {
          if (write) file.copyInWithinSize(fo, buf, off, ok4);
          else file.copyOut(fo, buf, off, ok4);
        }
        if (ok4 < n2) return fault("beyond-eof", pos + Math.max(0, ok4));
      } else {
        const bad = m.kind === "missing" ? this.#firstUnpopulated(pos, n2) : void 0;
        const good = bad === void 0 ? n2 : bad - pos;
        if (write) writeChunks(this.#chunks, pos, buf, off, good);
        else readChunks(this.#chunks, pos, buf, off, good);
        if (bad !== void 0) return fault("missing", bad);
      }
      pos += n2;
      off += n2;
    }
    return void 0;
  }
  /** Direct access to `length` bytes at hva that lie within ONE page, like a kernel mapping of a pinned page (kvm_vcpu_map). Returns a Uint8Array aliasing the backing store (writes through it are real) or the fault. `write` says the caller intends to write (checks PROT_WRITE). */
  view(hva, length, write) {
    if (!Number.isSafeInteger(hva) || !Number.isSafeInteger(length) || hva < 0 || length < 0 || hva % 4096 + length > 4096) {
      throw new SysError("EINVAL", `view of ${length} bytes at ${hex(hva)} crosses a page`);
    }
    const m = this.#lookup(hva);
    if (m === void 0) return fault("unmapped", hva);
    if (write ? (m.prot & 2) === 0 : m.prot === 0) return fault("protection", hva);
    if (m.kind === "file") {
      const fo = m.fileOffset + (hva - m.start);
      if (fo >= pageAlignUp(m.file.size)) return fault("beyond-eof", hva);
      return m.file.alias(fo, length);
    }
    if (m.kind === "missing" && this.#firstUnpopulated(hva, 1) !== void 0) return fault("missing", hva);
    const ci = Math.floor(hva / 65536);
    const co = hva - ci * 65536;
    return chunkAt(this.#chunks, ci).subarray(co, co + length);
  }
  /** What is at this hva, for diagnostics (e.g. "EFAULT: hva 0x7f.. unmapped"). */
  describe(hva) {
    const m = this.#lookup(hva);
    if (m === void 0) return { state: "unmapped" };
    const { prot, start, end } = m;
    switch (m.kind) {
      case "anonymous":
        return { state: "anonymous", prot, start, end };
      case "missing":
        return {
          state: "missing",
          prot,
          start,
          end,
          populated: this.#firstUnpopulated(hva, 1) === void 0
        };
      case "file": {
        const file = m.file;
        const fileOffset = m.fileOffset;
        const beyondEof = fileOffset + (pageAlignDown(hva) - start) >= file.size;
        return { state: "file", prot, start, end, file, fileOffset, beyondEof };
      }
      default: {
        const never = m.kind;
        return never;
      }
    }
  }
  /** Bytes of anonymous backing store actually allocated (proves sparseness in tests); files count their own. */
  residentBytes() {
    return this.#chunks.size * 65536;
  }
  // ---- internals ----
  #checkRange(hva, length, what) {
    if (!Number.isSafeInteger(hva) || !Number.isSafeInteger(length) || hva < 0 || length <= 0 || !pageAligned(hva) || !pageAligned(length) || hva + length > this.limit) {
      throw new SysError("EINVAL", `${what}(${hex(hva)}, ${length})`);
    }
  }
  #lookup(pos) {
    const c = this.#cache;
    if (c !== void 0 && pos >= c.start && pos < c.end) return c;
    const m = this.#vmas[firstEndingAfter(this.#vmas, pos)];
    if (m === void 0 || m.start > pos) return void 0;
    this.#cache = m;
    return m;
  }
  /** Split v[i] at `at` (strictly inside it); v[i] keeps the left part, the new right part is returned. */
  #splitAt(i, at) {
    const m = this.#vmas[i];
    const right = {
      start: at,
      end: m.end,
      prot: m.prot,
      kind: m.kind,
      file: m.file,
      fileOffset: m.kind === "file" ? m.fileOffset + (at - m.start) : 0
    };
    m.end = at;
    this.#vmas.splice(i + 1, 0, right);
    return right;
  }
  /** Remove [start, end) from every VMA (trimming/splitting at the edges) and discard its contents. */
  #removeRange(start, end) {
    const v = this.#vmas;
    this.#cache = void 0;
    let i = firstEndingAfter(this.#vmas, start);
    if (i < v.length && v[i].start < start) {
      if (v[i].end > end) this.#splitAt(i, end);
      this.#splitAt(i, start);
      i++;
    }
    let j = i;
    while (j < v.length && v[j].end <= end) j++;
    if (j < v.length && v[j].start < end) {
      this.#splitAt(j, end);
      j++;
    }
    const removed = v.splice(i, j - i);
    this.#generation++;
    zeroChunks(this.#chunks, start, end);
    this.#clearPopulated(start, end);
    for (const m of removed) {
      if (m.file !== void 0 && !v.some((o) => o.file === m.file)) m.file.removeMapper(this);
    }
  }
  #insert(vma) {
    const i = firstEndingAfter(this.#vmas, vma.start);
    this.#vmas.splice(i, 0, vma);
    this.#cache = void 0;
    this.#generation++;
    this.#mergeWindow(i - 1, i + 1);
  }
  /** Merge compatible neighbours among v[lo..hi] (clamped), as the kernel's vma_merge keeps maps tidy. */
  #mergeWindow(lo, hi) {
    const v = this.#vmas;
    for (let k = Math.min(hi, v.length - 1); k >= Math.max(lo, 0) + 1; k--) {
      const a = v[k - 1];
      const b = v[k];
      if (canMerge(a, b)) {
        a.end = b.end;
        v.splice(k, 1);
      }
    }
    this.#cache = void 0;
  }
  /** Lowest hva >= from with `length` free bytes below the limit, or undefined. */
  #gapFrom(from, length) {
    const v = this.#vmas;
    let candidate = from;
    for (let i = firstEndingAfter(this.#vmas, from); i < v.length; i++) {
      const m = v[i];
      if (m.start >= candidate + length) break;
      candidate = Math.max(candidate, m.end);
    }
    return candidate + length <= this.limit ? candidate : void 0;
  }
  /** The first byte in [pos, pos+n) whose page is not populated (max(pos, page start)), or undefined. */
  #firstUnpopulated(pos, n2) {
    const end = pos + n2;
    let p2 = pos;
    while (p2 < end) {
      const ci = Math.floor(p2 / 65536);
      const bit = Math.floor((p2 - ci * 65536) / 4096);
      if (((this.#populated.get(ci) ?? 0) >>> bit & 1) === 0) return p2;
      p2 = pageAlignDown(p2) + 4096;
    }
    return void 0;
  }
  #clearPopulated(start, end) {
    for (const ci of chunkIndicesIn(this.#populated, start, end)) {
      const base = ci * 65536;
      const lo = (Math.max(start, base) - base) / 4096;
      const hi = (Math.min(end, base + 65536) - base) / 4096;
      const mask = this.#populated.get(ci) & ~((1 << hi - lo) - 1 << lo);
      if (mask === 0) this.#populated.delete(ci);
      else this.#populated.set(ci, mask);
    }
  }
  #populate(hva, length, data) {
    this.#checkRange(hva, length, "UFFDIO_COPY");
    const end = hva + length;
    for (let p2 = hva; p2 < end; ) {
      const m = this.#lookup(p2);
      if (m === void 0 || m.kind !== "missing") {
        throw new SysError("EINVAL", `${hex(p2)} is not in a userfaultfd-registered mapping`);
      }
      p2 = Math.min(end, m.end);
    }
    for (let p2 = hva; p2 < end; p2 += 4096) {
      const ci = Math.floor(p2 / 65536);
      const bit = (p2 - ci * 65536) / 4096;
      if (((this.#populated.get(ci) ?? 0) >>> bit & 1) !== 0) {
        throw new SysError("EEXIST", `${hex(p2)} is already populated`);
      }
    }
    if (data !== void 0) writeChunks(this.#chunks, hva, data, 0, length);
    for (let p2 = hva; p2 < end; p2 += 4096) {
      const ci = Math.floor(p2 / 65536);
      const bit = (p2 - ci * 65536) / 4096;
      this.#populated.set(ci, (this.#populated.get(ci) ?? 0) | 1 << bit);
    }
    this.#generation++;
  }
};

// node_modules/pure-rand/lib/esm/distribution/uniformFloat64.js
var scale26 = 14901161193847656e-24;
var scale53 = 11102230246251565e-32;
var mask1 = 67108863;
var mask2 = 134217727;
function uniformFloat64(rng) {
  const value1 = rng.next() & mask1;
  const value2 = rng.next() & mask2;
  return value1 * scale26 + value2 * scale53;
}

// node_modules/pure-rand/lib/esm/generator/xoroshiro128plus.js
var jumps = [
  3639956645,
  3750757012,
  1261568508,
  386426335
];
var XoroShiro128Plus = class XoroShiro128Plus2 {
  constructor(s01, s00, s11, s10) {
    this.s01 = s01;
    this.s00 = s00;
    this.s11 = s11;
    this.s10 = s10;
  }
  clone() {
    return new XoroShiro128Plus2(this.s01, this.s00, this.s11, this.s10);
  }
  next() {
    const out = this.s00 + this.s10 | 0;
    const a0 = this.s10 ^ this.s00;
    const a1 = this.s11 ^ this.s01;
    const s00 = this.s00;
    const s01 = this.s01;
    this.s00 = s00 << 24 ^ s01 >>> 8 ^ a0 ^ a0 << 16;
    this.s01 = s01 << 24 ^ s00 >>> 8 ^ a1 ^ (a1 << 16 | a0 >>> 16);
    this.s10 = a1 << 5 ^ a0 >>> 27;
    this.s11 = a0 << 5 ^ a1 >>> 27;
    return out;
  }
  jump() {
    let ns01 = 0;
    let ns00 = 0;
    let ns11 = 0;
    let ns10 = 0;
    let s01 = this.s01;
    let s00 = this.s00;
    let s11 = this.s11;
    let s10 = this.s10;
    for (let i = 0; i !== 4; ++i) {
      const ji = jumps[i];
      for (let mask = 1; mask; mask <<= 1) {
        if (ji & mask) {
          ns01 ^= s01;
          ns00 ^= s00;
          ns11 ^= s11;
          ns10 ^= s10;
        }
        const a0 = s10 ^ s00;
        const a1 = s11 ^ s01;
        const s00_ = s00;
        const s01_ = s01;
        s00 = s00_ << 24 ^ s01_ >>> 8 ^ a0 ^ a0 << 16;
        s01 = s01_ << 24 ^ s00_ >>> 8 ^ a1 ^ (a1 << 16 | a0 >>> 16);
        s10 = a1 << 5 ^ a0 >>> 27;
        s11 = a0 << 5 ^ a1 >>> 27;
      }
    }
    this.s01 = ns01;
    this.s00 = ns00;
    this.s11 = ns11;
    this.s10 = ns10;
  }
  getState() {
    return [
      this.s01,
      this.s00,
      this.s11,
      this.s10
    ];
  }
};
function xoroshiro128plus(seed) {
  return new XoroShiro128Plus(-1, ~seed, seed | 0, 0);
}

// src/host/allocator.ts
function compilePlan(plan) {
  const nth = plan.failNth === void 0 ? [] : typeof plan.failNth === "number" ? [plan.failNth] : plan.failNth;
  for (const n2 of nth) {
    if (!Number.isSafeInteger(n2) || n2 < 1) throw new RangeError(`failNth: ${n2} is not a positive integer`);
  }
  const probability = plan.probability ?? 0;
  if (!(probability >= 0 && probability <= 1))
    throw new RangeError(`probability ${probability} not in [0, 1]`);
  if (plan.probability !== void 0 && plan.seed === void 0) {
    throw new RangeError("a fault probability needs a seed");
  }
  if (plan.failOver !== void 0 && !(plan.failOver >= 0)) throw new RangeError(`failOver ${plan.failOver}`);
  return {
    failNth: new Set(nth),
    failOver: plan.failOver ?? Infinity,
    probability,
    rng: plan.probability !== void 0 && plan.seed !== void 0 ? xoroshiro128plus(plan.seed) : void 0
  };
}
const HostAllocator = class {
  /** Bytes that may be in use at once; settable (a VMM may raise it and retry). */
  budget;
  /** Successful allocations, frees, and failed (ENOMEM) allocations since construction. */
  stats = { allocs: 0, frees: 0, failures: 0 };
  #live = /* @__PURE__ */ new Set();
  /** Freed allocations, only to tell a double free from a foreign pointer in the error. */
  #freed = /* @__PURE__ */ new WeakSet();
  #inUse = 0;
  #peak = 0;
  #plan;
  #attempts = 0;
  /** An allocator with `budget` bytes (default Infinity) and an optional fault plan. */
  constructor(opts) {
    this.budget = opts?.budget ?? Infinity;
    this.setFaults(opts?.faults);
  }
  /**
   * kvzalloc: undefined means ENOMEM (budget exceeded or an injected fault); nothing is charged then.
   * Size 0 succeeds (ZERO_SIZE_PTR) and, like kmalloc(0), never reaches fault injection, so it does not
   * advance the failNth count or draw from the PRNG.
   */
  alloc(size, tag) {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`alloc(${size}, '${tag}'): bad size`);
    if (size > 0 && (this.#plan !== void 0 && this.#injectFault(size) || this.#inUse + size > this.budget)) {
      this.stats.failures++;
      return void 0;
    }
    const a = { bytes: new Uint8Array(size), tag };
    this.#live.add(a);
    this.#inUse += size;
    if (this.#inUse > this.#peak) this.#peak = this.#inUse;
    this.stats.allocs++;
    return a;
  }
  /** kvfree. Freeing twice, or something this allocator did not hand out, is a model bug: throw an Error. */
  free(a) {
    if (!this.#live.delete(a)) {
      throw new Error(
        this.#freed.has(a) ? `double free of '${a.tag}'` : `free of '${a.tag}' not allocated here`
      );
    }
    this.#freed.add(a);
    this.#inUse -= a.bytes.length;
    this.stats.frees++;
  }
  /** Bytes currently charged. */
  inUse() {
    return this.#inUse;
  }
  /** Allocations not yet freed. */
  liveCount() {
    return this.#live.size;
  }
  /** High-water mark of inUse(). */
  peak() {
    return this.#peak;
  }
  /** Install (or with undefined, remove) a fault plan; resets the Nth counter and reseeds the PRNG. */
  setFaults(plan) {
    this.#plan = plan === void 0 ? void 0 : compilePlan(plan);
    this.#attempts = 0;
  }
  /** Live allocations grouped by tag, for leak reports. */
  live() {
    const out = /* @__PURE__ */ new Map();
    for (const a of this.#live) {
      const entry = out.get(a.tag);
      if (entry === void 0) out.set(a.tag, { count: 1, bytes: a.bytes.length });
      else {
        entry.count++;
        entry.bytes += a.bytes.length;
      }
    }
    return out;
  }
  #injectFault(size) {
    const plan = this.#plan;
    this.#attempts++;
    const roll = plan.rng !== void 0 && uniformFloat64(plan.rng) < plan.probability;
    return roll || plan.failNth.has(this.#attempts) || size > plan.failOver;
  }
};

// src/host/process.ts
function sys(what, fn) {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SysError) return new Errno(e.code, `${what}: ${e.message}`);
    throw e;
  }
}
const ModelProcessMemory = class {
  constructor(space) {
    this.space = space;
  }
  space;
  mapAnonymous(length, opts = {}) {
    return sys("mmap", () => {
      const hva = opts.at ?? this.space.findFree(length);
      this.space.mapAnonymous(hva, length, opts.prot ?? 1 | 2);
      return hva;
    });
  }
  mapMissing(length, opts = {}) {
    return sys("mmap+UFFDIO_REGISTER", () => {
      const hva = opts.at ?? this.space.findFree(length);
      this.space.mapMissing(hva, length);
      return hva;
    });
  }
  mapFile(file, length, opts = {}) {
    return sys("mmap", () => {
      const hva = opts.at ?? this.space.findFree(length);
      this.space.mapFile(hva, length, file, opts.offset ?? 0);
      return hva;
    });
  }
  unmap(hva, length) {
    const r = sys("munmap", () => this.space.unmap(hva, length));
    return r instanceof Errno ? r : void 0;
  }
  protect(hva, length, prot) {
    const r = sys("mprotect", () => this.space.protect(hva, length, prot));
    return r instanceof Errno ? r : void 0;
  }
  populate(hva, data) {
    const r = sys("UFFDIO_COPY", () => this.space.populate(hva, data));
    return r instanceof Errno ? r : void 0;
  }
  read(hva, dst) {
    return this.space.read(hva, dst);
  }
  write(hva, src) {
    return this.space.write(hva, src);
  }
  describe(hva) {
    return this.space.describe(hva);
  }
};

// src/uapi/caps.ts
const KVM_API_VERSION = 12;
const KVM_CAP_USER_MEMORY = 3;
const KVM_CAP_NR_MEMSLOTS = 10;
const KVM_CAP_SYNC_MMU = 16;
const KVM_CAP_READONLY_MEM = 81;
const KVM_CAP_X86_SMM = 117;
const KVM_CAP_IMMEDIATE_EXIT = 136;
const KVM_CAP_X86_USER_SPACE_MSR = 188;
const KVM_CAP_EXIT_HYPERCALL = 201;
const KVM_CAP_USER_MEMORY2 = 231;
const KVM_CAP_MEMORY_FAULT_INFO = 232;
const KVM_CAP_GUEST_MEMFD = 234;
const KVM_CAP_VM_TYPES = 235;
const KVM_CAP_X86_MSR_FILTER = 189;
const KVM_CAP_IRQCHIP = 0;
const KVM_CAP_HLT = 1;
const KVM_CAP_SET_TSS_ADDR = 4;
const KVM_CAP_NR_VCPUS = 9;
const KVM_CAP_MP_STATE = 14;
const KVM_CAP_USER_NMI = 22;
const KVM_CAP_IRQ_INJECT_STATUS = 26;
const KVM_CAP_SET_IDENTITY_MAP_ADDR = 37;
const KVM_CAP_VCPU_EVENTS = 41;
const KVM_CAP_XCRS = 56;
const KVM_CAP_GET_TSC_KHZ = 61;
const KVM_CAP_MAX_VCPUS = 66;
const KVM_CAP_SYNC_REGS = 74;
const KVM_CAP_ENABLE_CAP_VM = 98;
const KVM_CAP_MULTI_ADDRESS_SPACE = 118;
const KVM_CAP_MAX_VCPU_ID = 128;
const KVM_CAP_GET_MSR_FEATURES = 153;
const KVM_CAP_ENFORCE_PV_FEATURE_CPUID = 190;
const KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO = 1588592641;
const KVM_CAP_SEVBOX_VMGEXIT_RESTART = 1588592642;
const KVM_X86_DEFAULT_VM = 0;
const KVM_X86_SEV_ES_VM = 3;

// src/uapi/exit-reasons.ts
const KVM_EXIT_UNKNOWN = 0;
const KVM_EXIT_IO = 2;
const KVM_EXIT_HYPERCALL = 3;
const KVM_EXIT_DEBUG = 4;
const KVM_EXIT_HLT = 5;
const KVM_EXIT_MMIO = 6;
const KVM_EXIT_IRQ_WINDOW_OPEN = 7;
const KVM_EXIT_SHUTDOWN = 8;
const KVM_EXIT_FAIL_ENTRY = 9;
const KVM_EXIT_INTR = 10;
const KVM_EXIT_SET_TPR = 11;
const KVM_EXIT_INTERNAL_ERROR = 17;
const KVM_EXIT_SYSTEM_EVENT = 24;
const KVM_EXIT_X86_RDMSR = 29;
const KVM_EXIT_X86_WRMSR = 30;
const KVM_EXIT_AP_RESET_HOLD = 32;
const KVM_EXIT_MEMORY_FAULT = 39;
const KVM_EXIT_IO_IN = 0;
const KVM_EXIT_IO_OUT = 1;
const KVM_INTERNAL_ERROR_EMULATION = 1;
const KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON = 4;
const KVM_SYSTEM_EVENT_SEV_TERM = 6;
const KVM_MSR_EXIT_REASON_INVAL = 1 << 0;
const KVM_MSR_EXIT_REASON_UNKNOWN = 1 << 1;
const KVM_MSR_EXIT_REASON_FILTER = 1 << 2;
const KVM_MEMORY_EXIT_FLAG_PRIVATE = 1n << 3n;
const KVM_MEMORY_EXIT_SEVBOX_CAUSE_SHIFT = 32n;
const KVM_MEMORY_EXIT_SEVBOX_RESTARTABLE = 1n << 40n;
const KVM_MEMORY_EXIT_SEVBOX_WRITE = 1n << 41n;
const KVM_MEMORY_EXIT_SEVBOX_ACCESS_SHIFT = 48n;
const SEVBOX_CAUSE_NAMES = [
  "",
  "no-slot",
  "hva-unmapped",
  "userfault-missing",
  "beyond-eof",
  "readonly",
  "protection",
  "nomem"
];
const SEVBOX_ACCESS_NAMES = ["", "scratch-in", "scratch-alloc", "ghcb-map"];
function sevboxMemoryFaultFlags(cause, access, opts) {
  let f = BigInt(SEVBOX_CAUSE_NAMES.indexOf(cause)) << KVM_MEMORY_EXIT_SEVBOX_CAUSE_SHIFT | BigInt(SEVBOX_ACCESS_NAMES.indexOf(access)) << KVM_MEMORY_EXIT_SEVBOX_ACCESS_SHIFT;
  if (opts.restartable) f |= KVM_MEMORY_EXIT_SEVBOX_RESTARTABLE;
  if (opts.write) f |= KVM_MEMORY_EXIT_SEVBOX_WRITE;
  return f;
}

// src/uapi/struct.ts
function structView(bytes, size, struct) {
  if (bytes.length < size) {
    throw new RangeError(`struct ${struct} needs ${size} bytes, buffer has ${bytes.length}`);
  }
  return new DataView(bytes.buffer, bytes.byteOffset, size);
}
const StructReader = class _StructReader {
  constructor(dv, base = 0) {
    this.dv = dv;
    this.base = base;
  }
  dv;
  base;
  /** A reader for the nested struct at `off`. */
  at(off) {
    return new _StructReader(this.dv, this.base + off);
  }
  u8(off) {
    return this.dv.getUint8(this.base + off);
  }
  u16(off) {
    return this.dv.getUint16(this.base + off, true);
  }
  u32(off) {
    return this.dv.getUint32(this.base + off, true);
  }
  s32(off) {
    return this.dv.getInt32(this.base + off, true);
  }
  u64(off) {
    return this.dv.getBigUint64(this.base + off, true);
  }
  /** `n` consecutive u64s starting at `off`. */
  u64s(off, n2) {
    const out = [];
    for (let i = 0; i < n2; i++) out.push(this.u64(off + 8 * i));
    return out;
  }
  /** A copy of `len` bytes starting at `off`. */
  bytes(off, len) {
    const start = this.dv.byteOffset + this.base + off;
    return new Uint8Array(this.dv.buffer.slice(start, start + len));
  }
};
const StructWriter = class _StructWriter {
  constructor(struct, dv, base = 0) {
    this.struct = struct;
    this.dv = dv;
    this.base = base;
  }
  struct;
  dv;
  base;
  /** A writer for the nested struct `field` at `off` (errors name it `struct.field.member`). */
  at(off, field) {
    return new _StructWriter(`${this.struct}.${field}`, this.dv, this.base + off);
  }
  #uint(field, v, bits) {
    if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) {
      throw new RangeError(`${this.struct}.${field} ${v} is not a u${bits}`);
    }
    return v;
  }
  u8(off, field, v) {
    this.dv.setUint8(this.base + off, this.#uint(field, v, 8));
  }
  u16(off, field, v) {
    this.dv.setUint16(this.base + off, this.#uint(field, v, 16), true);
  }
  u32(off, field, v) {
    this.dv.setUint32(this.base + off, this.#uint(field, v, 32), true);
  }
  u64(off, field, v) {
    if (typeof v !== "bigint" || !isU64(v)) {
      throw new RangeError(`${this.struct}.${field} ${v} is not a u64`);
    }
    this.dv.setBigUint64(this.base + off, v, true);
  }
  /** Exactly `n` u64s from `vs` starting at `off`. */
  u64s(off, field, vs, n2) {
    if (vs.length !== n2) throw new RangeError(`${this.struct}.${field} needs ${n2} entries, got ${vs.length}`);
    for (let i = 0; i < n2; i++) this.u64(off + 8 * i, `${field}[${i}]`, vs[i]);
  }
  /** Exactly `len` bytes from `src` at `off`. */
  bytes(off, field, src, len) {
    if (src.length !== len)
      throw new RangeError(`${this.struct}.${field} is ${len} bytes, got ${src.length}`);
    new Uint8Array(this.dv.buffer, this.dv.byteOffset + this.base + off, len).set(src);
  }
};
function structOut(dst, size, struct) {
  const bytes = dst ?? new Uint8Array(size);
  const dv = structView(bytes, size, struct);
  bytes.fill(0, 0, size);
  return { bytes, w: new StructWriter(struct, dv) };
}
function structIn(bytes, size, struct) {
  return new StructReader(structView(bytes, size, struct));
}

// src/uapi/irq.ts
const KVM_MP_STATE_RUNNABLE = 0;
const KVM_MP_STATE_UNINITIALIZED = 1;
const KVM_MP_STATE_INIT_RECEIVED = 2;
const KVM_MP_STATE_HALTED = 3;
const KVM_MP_STATE_SIPI_RECEIVED = 4;
const KVM_MP_STATE_AP_RESET_HOLD = 9;
const KVM_IRQCHIP_PIC_MASTER = 0;
const KVM_IRQCHIP_PIC_SLAVE = 1;
const KVM_IRQCHIP_IOAPIC = 2;
const KVM_IRQCHIP_CHIP_BYTES = 512;

// src/uapi/kvm-run.ts
const KVM_VCPU_MMAP_SIZE = 3 * 4096;
const KVM_PIO_DATA_OFFSET = 4096;
const KVM_RUN_OFF_REQUEST_INTERRUPT_WINDOW = 0;
const KVM_RUN_OFF_IMMEDIATE_EXIT = 1;
const KVM_RUN_OFF_EXIT_REASON = 8;
const KVM_RUN_OFF_READY_FOR_INTERRUPT_INJECTION = 12;
const KVM_RUN_OFF_IF_FLAG = 13;
const KVM_RUN_OFF_FLAGS = 14;
const KVM_RUN_OFF_CR8 = 16;
const KVM_RUN_OFF_APIC_BASE = 24;
const KVM_RUN_OFF_EXIT_UNION = 32;
const KVM_RUN_EXIT_UNION_SIZE = 256;
const KVM_RUN_OFF_IO_DIRECTION = 32;
const KVM_RUN_OFF_IO_SIZE = 33;
const KVM_RUN_OFF_IO_PORT = 34;
const KVM_RUN_OFF_IO_COUNT = 36;
const KVM_RUN_OFF_IO_DATA_OFFSET = 40;
const KVM_RUN_OFF_MMIO_PHYS_ADDR = 32;
const KVM_RUN_OFF_MMIO_DATA = 40;
const KVM_RUN_OFF_MMIO_LEN = 48;
const KVM_RUN_OFF_MMIO_IS_WRITE = 52;
const KVM_RUN_OFF_HYPERCALL_NR = 32;
const KVM_RUN_OFF_HYPERCALL_ARGS = 40;
const KVM_RUN_OFF_HYPERCALL_RET = 88;
const KVM_RUN_OFF_HYPERCALL_FLAGS = 96;
const KVM_RUN_OFF_INTERNAL_SUBERROR = 32;
const KVM_RUN_OFF_INTERNAL_NDATA = 36;
const KVM_RUN_OFF_INTERNAL_DATA = 40;
const KVM_RUN_OFF_SYSTEM_EVENT_TYPE = 32;
const KVM_RUN_OFF_SYSTEM_EVENT_NDATA = 36;
const KVM_RUN_OFF_MSR_ERROR = 32;
const KVM_RUN_OFF_MSR_REASON = 40;
const KVM_RUN_OFF_MSR_INDEX = 44;
const KVM_RUN_OFF_MSR_DATA = 48;
const KVM_RUN_OFF_FAIL_ENTRY_REASON = 32;
const KVM_RUN_OFF_FAIL_ENTRY_CPU = 40;
const KVM_RUN_OFF_DEBUG_EXCEPTION = 32;
const KVM_RUN_OFF_DEBUG_PC = 40;
const KVM_RUN_OFF_DEBUG_DR6 = 48;
const KVM_RUN_OFF_DEBUG_DR7 = 56;
const KVM_RUN_OFF_MEMORY_FAULT_FLAGS = 32;
const KVM_RUN_OFF_MEMORY_FAULT_GPA = 40;
const KVM_RUN_OFF_MEMORY_FAULT_SIZE = 48;
const KVM_RUN_DATA_WORDS = 16;
const TWO3212 = 4294967296;
const KvmRun = class {
  /** The whole vCPU mapping (KVM_VCPU_MMAP_SIZE bytes). */
  bytes;
  view;
  /** `mmio.data[8]`, aliasing the buffer. */
  mmioData;
  /** The PIO data page, aliasing the buffer. */
  pioPage;
  constructor(bytes = new Uint8Array(KVM_VCPU_MMAP_SIZE)) {
    if (bytes.length < KVM_VCPU_MMAP_SIZE)
      throw new RangeError(`kvm_run mapping needs ${KVM_VCPU_MMAP_SIZE} bytes`);
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.mmioData = bytes.subarray(40, 40 + 8);
    this.pioPage = bytes.subarray(4096, 4096 + 4096);
  }
  u8(off) {
    return this.view.getUint8(off);
  }
  setU8(off, v) {
    this.view.setUint8(off, v);
  }
  u16(off) {
    return this.view.getUint16(off, true);
  }
  setU16(off, v) {
    this.view.setUint16(off, v, true);
  }
  u32(off) {
    return this.view.getUint32(off, true);
  }
  setU32(off, v) {
    this.view.setUint32(off, v >>> 0, true);
  }
  /** A u64 as a number; exact for values below 2^53. */
  u64n(off) {
    return this.view.getUint32(off, true) + this.view.getUint32(off + 4, true) * 4294967296;
  }
  /** Store a non-negative integer below 2^53 as a u64 without going through bigint. */
  setU64n(off, v) {
    this.view.setUint32(off, v % 4294967296, true);
    this.view.setUint32(off + 4, Math.floor(v / 4294967296), true);
  }
  u64(off) {
    return this.view.getBigUint64(off, true);
  }
  setU64(off, v) {
    this.view.setBigUint64(off, BigInt.asUintN(64, v), true);
  }
  get immediateExit() {
    return this.bytes[1];
  }
  set immediateExit(v) {
    this.bytes[1] = v;
  }
  get requestInterruptWindow() {
    return this.bytes[0];
  }
  set requestInterruptWindow(v) {
    this.bytes[0] = v;
  }
  get exitReason() {
    return this.u32(8);
  }
  set exitReason(v) {
    this.setU32(8, v);
  }
  get flags() {
    return this.u16(14);
  }
  set flags(v) {
    this.setU16(14, v);
  }
  /** Zero the exit union, so stale fields of an earlier exit never leak into a new one. */
  clearExitUnion() {
    this.bytes.fill(0, 32, 32 + 256);
  }
  /** `internal.data[i]`, `system_event.data[i]` (same offsets). */
  dataWord(i) {
    return this.u64(40 + 8 * i);
  }
  setDataWord(i, v) {
    this.setU64(40 + 8 * i, v);
  }
};

// src/uapi/lapic.ts
const KVM_LAPIC_STATE_SIZE = 1024;
const APIC_ID = 32;
const APIC_LVR = 48;
const APIC_TASKPRI = 128;
const APIC_EOI = 176;
const APIC_DFR = 224;
const APIC_SPIV = 240;
const APIC_ISR = 256;
const APIC_IRR = 512;
const APIC_ICR = 768;
const APIC_ICR2 = 784;
const APIC_LVTT = 800;
const APIC_LVT0 = 848;
const APIC_LVT1 = 864;
const APIC_LVTERR = 880;

// src/uapi/msr-filter.ts
const KVM_MSR_FILTER_READ = 1 << 0;
const KVM_MSR_FILTER_WRITE = 1 << 1;
const KVM_MSR_FILTER_RANGE_VALID_MASK = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
const KVM_MSR_FILTER_DEFAULT_ALLOW = 0 << 0;
const KVM_MSR_FILTER_DEFAULT_DENY = 1 << 0;
const KVM_MSR_FILTER_VALID_MASK = KVM_MSR_FILTER_DEFAULT_DENY;
const KVM_MSR_FILTER_MAX_RANGES = 16;
const KVM_MSR_FILTER_MAX_BITMAP_SIZE = 1536;

// src/uapi/vcpu-exit.ts
function words(run, ndataOff) {
  const n2 = Math.min(run.u32(ndataOff), 16);
  const out = [];
  for (let i = 0; i < n2; i++) out.push(run.dataWord(i));
  return out;
}
function decodeExit(run) {
  const reason = run.exitReason;
  switch (reason) {
    case 2: {
      const size = run.u8(33);
      const count = run.u32(36);
      const off = run.u64n(40);
      const end = Math.min(off + size * count, KVM_VCPU_MMAP_SIZE);
      const data = run.bytes.subarray(Math.min(off, end), end);
      const port = run.u16(34);
      const kind = run.u8(32) === 1 ? "IoOut" : "IoIn";
      return { kind, reason, port, size, count, data };
    }
    case 6: {
      const len = Math.min(run.u32(48), 8);
      const addr = run.u64n(32);
      const data = run.bytes.subarray(40, 40 + len);
      return run.u8(52) ? { kind: "MmioWrite", reason, addr, data } : { kind: "MmioRead", reason, addr, data };
    }
    case 5:
      return { kind: "Hlt", reason };
    case 8:
      return { kind: "Shutdown", reason };
    case 24:
      return {
        kind: "SystemEvent",
        reason,
        type: run.u32(32),
        data: words(run, 36)
      };
    case 29:
    case 30: {
      const msr2 = {
        setData: (v) => run.setU64(48, v),
        setError: (e) => run.setU8(32, e ? 1 : 0)
      };
      const index = run.u32(44);
      const msrReason = run.u32(40);
      return reason === 29 ? { kind: "X86Rdmsr", reason, index, msrReason, msr: msr2 } : { kind: "X86Wrmsr", reason, index, msrReason, value: run.u64(48), msr: msr2 };
    }
    case 17:
      return {
        kind: "InternalError",
        reason,
        suberror: run.u32(32),
        data: words(run, 36)
      };
    case 3:
      return {
        kind: "Hypercall",
        reason,
        nr: run.u64(32),
        args: Array.from({ length: 6 }, (_, i) => run.u64(40 + 8 * i)),
        flags: run.u64(96),
        setRet: (ret3) => run.setU64(88, ret3)
      };
    case 9:
      return {
        kind: "FailEntry",
        reason,
        hardwareEntryFailureReason: run.u64(32),
        cpu: run.u32(40)
      };
    case 32:
      return { kind: "ApResetHold", reason };
    case 39:
      return {
        kind: "MemoryFault",
        reason,
        flags: run.u64(32),
        gpa: run.u64(40),
        size: run.u64(48)
      };
    case 10:
      return { kind: "Intr", reason };
    case 7:
      return { kind: "IrqWindowOpen", reason };
    default:
      return { kind: "Unknown", reason };
  }
}

// src/uapi/guest-debug.ts
const KVM_GUESTDBG_SINGLESTEP = 2;
const KVM_GUESTDBG_USE_HW_BP = 131072;

// src/kvm/debugreg.ts
const DR6_ACTIVE_LOW = 0xffff0ff0n;
const DR6_VOLATILE = 0x0001e80fn;
const DR6_FIXED_1 = DR6_ACTIVE_LOW & ~DR6_VOLATILE;
const DR6_TRAP_BITS = 0xfn;
const DR6_BUS_LOCK = 1n << 11n;
const DR6_BS = 1n << 14n;
const DR6_RTM = 1n << 16n;
const DR7_VOLATILE = 0xffff2bffn;
const DR7_FIXED_1 = 0x400n;

// src/kvm/cache-regs.ts
const MASK324 = 0xffffffffn;
const X86_EFLAGS_TF = 1 << 8;
const X86_EFLAGS_RF = 1 << 16;
const V_TPR_MASK = 15;
function sevEsGuest(vcpu) {
  return vcpu.vm.typeOps.sevEs ?? false;
}
function kvmRegisterReadRaw(vcpu, r) {
  return gpr(vcpu.regs, r);
}
function kvmRegisterWriteRaw(vcpu, r, v) {
  setGpr(vcpu.regs, r, v);
}
function isLongMode(vcpu) {
  return (vcpu.vmcb.save.getUint32(208, true) & EFER_LMA) !== 0;
}
function is64BitMode(vcpu) {
  return codeSize(vcpu.vmcb.save) === 64;
}
function kvmRegisterRead(vcpu, r) {
  const v = kvmRegisterReadRaw(vcpu, r);
  return is64BitMode(vcpu) ? v : v & MASK324;
}
function kvmRegisterWrite(vcpu, r, v) {
  kvmRegisterWriteRaw(vcpu, r, is64BitMode(vcpu) ? v : v & MASK324);
}
function kvmRipRead(vcpu) {
  return getS64Number(vcpu.vmcb.save, 376);
}
function kvmRipWrite(vcpu, rip) {
  setS64Number(vcpu.vmcb.save, 376, rip);
}
function kvmGetLinearRip(vcpu) {
  if (vcpu.guestStateProtected) return 0n;
  const save = vcpu.vmcb.save;
  const rip = save.getBigUint64(376, true);
  if (is64BitMode(vcpu)) return rip;
  return save.getBigUint64(16 + 8, true) + rip & MASK324;
}
function skipEmulatedInstruction(vcpu) {
  if (vcpu.guestStateProtected) return;
  const c = vcpu.vmcb.control;
  const lo = c.getUint32(200, true);
  const hi = c.getUint32(200 + 4, true);
  const save = vcpu.vmcb.save;
  save.setUint32(376, lo, true);
  save.setUint32(376 + 4, hi, true);
  vcpu.vmcb.intState &= ~1;
}
function kvmVcpuDoSinglestep(vcpu) {
  if (vcpu.guestDebug & 2) {
    const run = vcpu.runArea;
    run.clearExitUnion();
    run.exitReason = 4;
    run.setU64(48, DR6_BS | DR6_ACTIVE_LOW);
    run.setU64(40, kvmGetLinearRip(vcpu));
    run.setU32(32, 1);
    return 0;
  }
  kvmQueueExceptionP(vcpu, 1, DR6_BS);
  return 1;
}
function kvmSkipEmulatedInstruction(vcpu) {
  const rflags = vcpu.vmcb.save.getUint32(368, true);
  skipEmulatedInstruction(vcpu);
  if (rflags & X86_EFLAGS_TF) return kvmVcpuDoSinglestep(vcpu);
  return 1;
}
function kvmQueueException(vcpu, vector, errorCode) {
  vcpu.exception = { vector, errorCode };
}
function kvmQueueExceptionP(vcpu, vector, payload) {
  if (vector === 1) {
    let dr6 = vcpu.dr6 & ~DR6_TRAP_BITS;
    dr6 |= DR6_ACTIVE_LOW;
    dr6 |= payload;
    dr6 ^= payload & DR6_ACTIVE_LOW;
    vcpu.dr6 = dr6 & ~(1n << 12n);
  } else if (vector === 14) {
    vcpu.vmcb.save.setBigUint64(576, BigInt.asUintN(64, payload), true);
  }
  kvmQueueException(vcpu, vector);
}
function kvmInjectGp(vcpu) {
  kvmQueueException(vcpu, 13, 0);
}
function kvmCompleteInsnGp(vcpu, err) {
  if (err) {
    kvmInjectGp(vcpu);
    return 1;
  }
  return kvmSkipEmulatedInstruction(vcpu);
}
function kvmReadCr0(vcpu) {
  return vcpu.vmcb.save.getUint32(344, true);
}
function kvmReadCr3(vcpu) {
  return vcpu.vmcb.save.getBigUint64(336, true);
}
function kvmReadCr4(vcpu) {
  return vcpu.guestStateProtected ? vcpu.cr4 : vcpu.vmcb.save.getUint32(328, true);
}
function isPaging(vcpu) {
  return (kvmReadCr0(vcpu) & 2147483648) !== 0;
}
function isPae(vcpu) {
  return (kvmReadCr4(vcpu) & CR4_PAE) !== 0;
}
function isPaePaging(vcpu) {
  return !isLongMode(vcpu) && isPae(vcpu) && isPaging(vcpu);
}
function kvmGetCr8(vcpu) {
  const lapic = vcpu.lapic;
  if (lapic) return (lapic.get(128) & 240) >>> 4;
  return vcpu.vmcb.intCtl & 15;
}
function kvmCpl(vcpu) {
  return vcpu.guestStateProtected ? vcpu.cpl : vcpu.vmcb.save.getUint8(203);
}

// src/uapi/cpuid.ts
const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1 << 0;
const KVM_CPUID_FLAG_STATEFUL_FUNC = 1 << 1;
const KVM_CPUID_FLAG_STATE_READ_NEXT = 1 << 2;

// src/kvm/cpuid.ts
const DEFAULT_CBIT = 51;
const le32 = (s) => s.charCodeAt(0) | s.charCodeAt(1) << 8 | s.charCodeAt(2) << 16 | s.charCodeAt(3) << 24;
const INDEXED = /* @__PURE__ */ new Set([
  4,
  7,
  11,
  13,
  15,
  16,
  18,
  20,
  29,
  30,
  31,
  36,
  2147483677,
  2147483680
]);
const withFlags = (e) => ({
  ...e,
  flags: INDEXED.has(e.function) ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0
});
const DEFAULT_CPUID = [
  { function: 0, index: 0, eax: 13, ebx: le32("Auth"), edx: le32("enti"), ecx: le32("cAMD") },
  // ECX: SSE3, XSAVE (26), hypervisor (31); OSXSAVE (27) and EDX.APIC (9) are runtime bits.
  { function: 1, index: 0, eax: 10489617, ebx: 0, ecx: 2147483648 | 1 << 26 | 1, edx: 395049983 },
  { function: 13, index: 0, eax: 7, ebx: 576, ecx: 832, edx: 0 },
  { function: 13, index: 2, eax: 256, ebx: 576, ecx: 0, edx: 0 },
  {
    function: 2147483648,
    index: 0,
    eax: 2147483679,
    ebx: le32("Auth"),
    edx: le32("enti"),
    ecx: le32("cAMD")
  },
  // 0x80000001: ECX LAHF/SAHF (0), ABM (5); EDX SYSCALL (11), NX (20), LM (29). No PERFCTR_CORE (23):
  // the vPMU has AMD64_NUM_COUNTERS (4) general-purpose counters.
  { function: 2147483649, index: 0, eax: 10489617, ebx: 0, ecx: 33, edx: 537921536 },
  // 0x8000001F: EAX bit 0 SME, bit 1 SEV, bit 3 SEV-ES; EBX[5:0] C-bit position.
  { function: 2147483679, index: 0, eax: 11, ebx: 51 | 1 << 6, ecx: 509, edx: 100 }
].map(withFlags);
const HOST_XSTATE = /* @__PURE__ */ new Map([
  [2, { size: 256, offset: 576, align64: false }],
  // AVX (YMM_Hi128)
  [5, { size: 64, offset: 832, align64: false }],
  // AVX-512 opmask
  [6, { size: 512, offset: 896, align64: false }],
  // ZMM_Hi256
  [7, { size: 1024, offset: 1408, align64: false }],
  // Hi16_ZMM
  [9, { size: 8, offset: 2432, align64: false }],
  // PKRU
  [11, { size: 16, offset: 0, align64: false }],
  // CET_U (supervisor, XSS)
  [12, { size: 24, offset: 0, align64: false }]
  // CET_S
]);
const HOST_XSTATE_ALL = (1n << 64n) - 1n;
function xstateRequiredSize(xstateBv, compacted, hostXstate = HOST_XSTATE_ALL) {
  let ret3 = 512 + 64;
  const bv = xstateBv & hostXstate;
  for (let i = 2; i < 64; i++) {
    if (!(bv >> BigInt(i) & 1n)) continue;
    const f = HOST_XSTATE.get(i);
    if (!f) continue;
    const offset = compacted ? f.align64 ? Math.ceil(ret3 / 64) * 64 : ret3 : f.offset;
    ret3 = Math.max(ret3, offset + f.size);
  }
  return ret3;
}
const KVM_SUPPORTED_XCR0 = 0x602ffn;
const DEFAULT_HOST_XCR0 = 0x2e7n;
const edxEax = (e) => BigInt(e.edx >>> 0) << 32n | BigInt(e.eax >>> 0);
function supportedCpuid(supportedXcr0) {
  const leaf = cpuidEntry(DEFAULT_CPUID, 13, 0);
  if (!leaf || (edxEax(leaf) & ~supportedXcr0) === 0n) return DEFAULT_CPUID;
  const permitted = edxEax(leaf) & supportedXcr0;
  const size = xstateRequiredSize(permitted, false);
  return DEFAULT_CPUID.flatMap((e) => {
    if (e.function !== 13) return [e];
    if (e.index === 0)
      return [
        { ...e, eax: Number(permitted & 0xffffffffn), edx: Number(permitted >> 32n), ebx: size, ecx: size }
      ];
    return e.index >= 2 && e.index < 64 && !(permitted >> BigInt(e.index) & 1n) ? [] : [e];
  });
}
function cpuidEntry(table, fn, index) {
  const f = fn >>> 0;
  const i = index >>> 0;
  for (const e of table) {
    if (e.function === f && (e.index === i || !(e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX))) return e;
  }
  return void 0;
}
const X86_FEATURE = {
  VMX: { function: 1, index: 0, reg: "ecx", bit: 5 },
  PCID: { function: 1, index: 0, reg: "ecx", bit: 17 },
  XSAVE: { function: 1, index: 0, reg: "ecx", bit: 26 },
  FSGSBASE: { function: 7, index: 0, reg: "ebx", bit: 0 },
  SMEP: { function: 7, index: 0, reg: "ebx", bit: 7 },
  RTM: { function: 7, index: 0, reg: "ebx", bit: 11 },
  SMAP: { function: 7, index: 0, reg: "ebx", bit: 20 },
  UMIP: { function: 7, index: 0, reg: "ecx", bit: 2 },
  PKU: { function: 7, index: 0, reg: "ecx", bit: 3 },
  SHSTK: { function: 7, index: 0, reg: "ecx", bit: 7 },
  LA57: { function: 7, index: 0, reg: "ecx", bit: 16 },
  BUS_LOCK_DETECT: { function: 7, index: 0, reg: "ecx", bit: 24 },
  NX: { function: 2147483649, index: 0, reg: "edx", bit: 20 },
  LM: { function: 2147483649, index: 0, reg: "edx", bit: 29 },
  RDTSCP: { function: 2147483649, index: 0, reg: "edx", bit: 27 },
  INVPCID: { function: 7, index: 0, reg: "ebx", bit: 10 },
  RDPID: { function: 7, index: 0, reg: "ecx", bit: 22 },
  SPEC_CTRL: { function: 7, index: 0, reg: "edx", bit: 26 },
  FLUSH_L1D: { function: 7, index: 0, reg: "edx", bit: 28 },
  XSAVES: { function: 13, index: 1, reg: "eax", bit: 3 },
  AMD_IBPB: { function: 2147483656, index: 0, reg: "ebx", bit: 12 },
  AMD_IBRS: { function: 2147483656, index: 0, reg: "ebx", bit: 14 },
  AMD_STIBP: { function: 2147483656, index: 0, reg: "ebx", bit: 15 },
  AMD_SSBD: { function: 2147483656, index: 0, reg: "ebx", bit: 24 },
  SBPB: { function: 2147483681, index: 0, reg: "eax", bit: 27 }
};
function guestCpuidHas(table, f) {
  const e = cpuidEntry(table, f.function, f.index);
  return e !== void 0 && (e[f.reg] >>> f.bit & 1) === 1;
}
const AMD_COMPATIBLE_VENDORS = /* @__PURE__ */ new Set(["AuthenticAMD", "AMDisbetter!", "HygonGenuine"]);
function guestCpuidIsIntelCompatible(table) {
  const e = cpuidEntry(table, 0, 0);
  if (!e) return true;
  const s = (v) => String.fromCharCode(v & 255, v >>> 8 & 255, v >>> 16 & 255, v >>> 24);
  return !AMD_COMPATIBLE_VENDORS.has(s(e.ebx) + s(e.edx) + s(e.ecx));
}
const X86_CR4_OSXSAVE = 1 << 18;
const X86_CR4_PKE = 1 << 22;
function kvmCpuid(vcpu, fn, index) {
  const e = cpuidEntry(vcpu.cpuid, fn, index);
  if (!e) return { function: fn >>> 0, index: index >>> 0, flags: 0, eax: 0, ebx: 0, ecx: 0, edx: 0 };
  switch (e.function) {
    case 1: {
      const cr4 = kvmReadCr4(vcpu);
      const apicOn = ((vcpu.msrs.get(27) ?? 0n) & MSR_IA32_APICBASE_ENABLE) !== 0n;
      const osxsave2 = e.ecx & 1 << 26 && cr4 & X86_CR4_OSXSAVE ? 1 << 27 : 0;
      return {
        ...e,
        ecx: (e.ecx & ~(1 << 27) | osxsave2) >>> 0,
        edx: (e.edx & ~(1 << 9) | (apicOn ? 1 << 9 : 0)) >>> 0
      };
    }
    case 7:
      if (e.index !== 0) return e;
      return { ...e, ecx: (e.ecx & ~(1 << 4) | (kvmReadCr4(vcpu) & X86_CR4_PKE ? 1 << 4 : 0)) >>> 0 };
    case 13:
      if (e.index === 0) return { ...e, ebx: xstateRequiredSize(vcpu.xcr0, false, vcpu.vm.ctx.hostXstate) };
      if (e.index === 1 && e.eax & 10) {
        const bv = vcpu.vm.core.xssInXsaveSize ? vcpu.xcr0 | vcpu.xss : vcpu.xcr0;
        return { ...e, ebx: xstateRequiredSize(bv, true, vcpu.vm.ctx.hostXstate) };
      }
      return e;
    default:
      return e;
  }
}

// src/kvm/hypercall.ts
const KVM_HC_VAPIC_POLL_IRQ = 1;
const KVM_HC_KICK_CPU = 5;
const KVM_HC_CLOCK_PAIRING = 9;
const KVM_HC_SEND_IPI = 10;
const KVM_HC_SCHED_YIELD = 11;
const KVM_HC_MAP_GPA_RANGE = 12;
const KVM_ENOSYS = 1000n;
const KVM_EINVAL = 22n;
const KVM_EPERM = 1n;
const KVM_EOPNOTSUPP = 95n;
const KVM_FEATURE_PV_UNHALT = 7;
const KVM_FEATURE_PV_SEND_IPI = 11;
const KVM_FEATURE_PV_SCHED_YIELD = 13;
const KVM_EXIT_HYPERCALL_LONG_MODE = 1n;
const APIC_DEST_MASK = 2048;
const APIC_SHORT_MASK = 786432;
function guestPvHas(vcpu, feature) {
  if (!vcpu.enforcePvFeatureCpuid) return true;
  const sig = cpuidEntry(vcpu.cpuid, 1073741824, 0);
  if (sig?.ebx !== 1263359563 || sig.ecx !== 1447775574 || sig.edx !== 77) return false;
  const leaf = cpuidEntry(vcpu.cpuid, 1073741825, 0);
  return leaf !== void 0 && (leaf.eax & 1 << feature) !== 0;
}
function is64BitHypercall(vcpu) {
  return vcpu.guestStateProtected || codeSize(vcpu.vmcb.save) === 64;
}
function pvSendIpi(vcpu, lo, hi, min, icr, op64) {
  if (icr & BigInt(2048 | 786432)) return -KVM_EINVAL;
  const chip = vcpu.vm.irqchip;
  if (!chip) return -KVM_EOPNOTSUPP;
  const cluster = op64 ? 64n : 32n;
  let count = 0n;
  for (const [half, base] of [
    [lo, min],
    [hi, min + cluster]
  ]) {
    for (let i = 0n; i < cluster; i++) {
      if (!(half >> i & 1n)) continue;
      const target2 = chip.lapics.get(Number(base + i));
      if (!target2) continue;
      target2.setIrr(Number(icr & 0xffn));
      count++;
    }
  }
  return count;
}
function kvmEmulateHypercall(vcpu) {
  const op64 = is64BitHypercall(vcpu);
  const trunc = (v) => op64 ? v : v & 0xffffffffn;
  const nr = trunc(kvmRegisterReadRaw(vcpu, 0));
  const a0 = trunc(kvmRegisterReadRaw(vcpu, 3));
  const a1 = trunc(kvmRegisterReadRaw(vcpu, 1));
  const a2 = trunc(kvmRegisterReadRaw(vcpu, 2));
  const a3 = trunc(kvmRegisterReadRaw(vcpu, 6));
  let ret3;
  if (kvmCpl(vcpu) !== 0) ret3 = -KVM_EPERM;
  else {
    switch (Number(nr)) {
      case 1:
        ret3 = 0n;
        break;
      case 5: {
        if (!guestPvHas(vcpu, 7)) {
          ret3 = -KVM_ENOSYS;
          break;
        }
        const target2 = vcpu.vm.vcpus.get(Number(a1));
        if (target2) target2.pvUnhalted = true;
        ret3 = 0n;
        break;
      }
      case 9:
        ret3 = -KVM_EOPNOTSUPP;
        break;
      case 10:
        ret3 = guestPvHas(vcpu, 11) ? pvSendIpi(vcpu, a0, a1, a2, a3, op64) : -KVM_ENOSYS;
        break;
      case 11:
        ret3 = guestPvHas(vcpu, 13) ? 0n : -KVM_ENOSYS;
        break;
      case 12: {
        if (!(vcpu.vm.exitHypercalls & 1 << 12)) {
          ret3 = -KVM_ENOSYS;
          break;
        }
        const gfn = a0 >> 12n;
        if (a0 & 0xfffn || a1 === 0n || BigInt.asUintN(64, gfn + a1) <= gfn) {
          ret3 = -KVM_EINVAL;
          break;
        }
        return mapGpaRangeExit(vcpu, nr, [a0, a1, a2], op64);
      }
      default:
        ret3 = -KVM_ENOSYS;
    }
  }
  kvmRegisterWriteRaw(vcpu, 0, trunc(BigInt.asUintN(64, ret3)));
  return kvmSkipEmulatedInstruction(vcpu);
}
function mapGpaRangeExit(vcpu, nr, args, op64) {
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = 3;
  run.setU64(32, nr);
  args.forEach((a, i) => {
    run.setU64(40 + 8 * i, a);
  });
  run.setU64(96, op64 ? KVM_EXIT_HYPERCALL_LONG_MODE : 0n);
  vcpu.completeUserspaceIo = () => {
    let ret3 = run.u64(88);
    const wide = vcpu.vm.core.hypercallRetByProtectedState ? is64BitHypercall(vcpu) : codeSize(vcpu.vmcb.save) === 64;
    if (!wide) ret3 &= 0xffffffffn;
    kvmRegisterWriteRaw(vcpu, 0, ret3);
    return kvmSkipEmulatedInstruction(vcpu);
  };
  return 0;
}

// src/kvm/interrupts.ts
const SVM_GUEST_INTERRUPT_MASK = 2;
function svmGetIfFlag(vcpu) {
  const vmcb = vcpu.vmcb;
  if (vcpu.guestStateProtected) return (vmcb.intState & 2) !== 0;
  return (vmcb.save.getUint32(368, true) & RFLAGS_IF) !== 0;
}
function interruptAllowed(vcpu) {
  if (vcpu.vmcb.intState & 1) return false;
  return svmGetIfFlag(vcpu);
}
function enableIrqWindow(vcpu) {
  const vmcb = vcpu.vmcb;
  vmcb.intCtl |= V_IRQ_MASK;
  vmcb.setIntercept(100, true);
}
function disableIrqWindow(vcpu) {
  const vmcb = vcpu.vmcb;
  vmcb.intCtl &= ~V_IRQ_MASK;
  vmcb.setIntercept(100, false);
}
function kvmDeliverSipiVector(vcpu, vector) {
  if (vcpu.guestStateProtected) return;
  const save = vcpu.vmcb.save;
  save.setUint16(16, vector << 8, true);
  save.setBigUint64(16 + 8, BigInt(vector) << 12n, true);
  kvmRipWrite(vcpu, 0);
}

// src/kvm/irqchip.ts
const IOAPIC_NUM_PINS = 24;
const X2APIC_MSR_BASE = 2048;
const X2APIC_MSR_END = 2303;
const LVT_MASKED = 1 << 16;
const ICR_DELIVERY_FIXED = 0;
const ICR_DELIVERY_NMI = 4;
const ICR_DELIVERY_INIT = 5;
const ICR_DELIVERY_STARTUP = 6;
const ICR_SHORTHAND_SELF = 1;
const ICR_SHORTHAND_ALL = 2;
const ICR_SHORTHAND_OTHERS = 3;
const REDIR_MASKED = 1n << 16n;
const Lapic = class {
  constructor(vcpuId) {
    this.vcpuId = vcpuId;
    this.reset();
  }
  vcpuId;
  regs = new Uint8Array(1024);
  #view = new DataView(this.regs.buffer);
  /** KVM_APIC_SIPI pending, with apic->sipi_vector. */
  sipiPending = false;
  sipiVector = 0;
  /** KVM_APIC_INIT pending. */
  initPending = false;
  /** kvm_lapic_reset: the power-on register values. */
  reset() {
    this.regs.fill(0);
    this.set(32, this.vcpuId << 24);
    this.set(48, 327700);
    this.set(224, 4294967295);
    this.set(240, 255);
    for (const lvt of [800, 848, 864, 880]) this.set(lvt, LVT_MASKED);
  }
  get(reg) {
    return this.#view.getUint32(reg, true);
  }
  set(reg, v) {
    this.#view.setUint32(reg, v >>> 0, true);
  }
  #bit(base, vector) {
    return [base + (vector >>> 5 << 4), 1 << (vector & 31)];
  }
  /** Accept a fixed interrupt: its IRR bit. */
  setIrr(vector) {
    const [reg, bit] = this.#bit(512, vector);
    this.set(reg, this.get(reg) | bit);
  }
  /** The highest vector set in the 256-bit register at `base`, or -1. */
  #highest(base) {
    for (let w = 7; w >= 0; w--) {
      const v = this.get(base + (w << 4));
      if (v) return (w << 5) + 31 - Math.clz32(v);
    }
    return -1;
  }
  /**
   * kvm_apic_has_interrupt: the highest requested vector whose priority class beats both the TPR
   * and the highest in service, or -1.
   */
  pendingVector() {
    const irr = this.#highest(512);
    if (irr < 0) return -1;
    const isr = this.#highest(256);
    const ppr = Math.max(this.get(128) & 240, isr < 0 ? 0 : isr & 240);
    return (irr & 240) > ppr ? irr : -1;
  }
  /** kvm_get_apic_interrupt: the vector moves from IRR to ISR. */
  ack(vector) {
    const [irr, bit] = this.#bit(512, vector);
    this.set(irr, this.get(irr) & ~bit);
    const [isr] = this.#bit(256, vector);
    this.set(isr, this.get(isr) | bit);
  }
  /** EOI: the highest vector in service completes. */
  eoi() {
    const v = this.#highest(256);
    if (v < 0) return;
    const [isr, bit] = this.#bit(256, v);
    this.set(isr, this.get(isr) & ~bit);
  }
};
const Irqchip = class {
  lapics = /* @__PURE__ */ new Map();
  /** kvm_ioapic_state: id and the 24 64-bit redirection entries (masked at reset). */
  ioapicId = 0;
  redirtbl = new Array(24).fill(REDIR_MASKED);
  /** Line levels of the IOAPIC pins as KVM_IRQ_LINE left them. */
  levels = new Uint8Array(24);
  /** kvm_pic_state of the master and slave 8259 (kept as KVM_SET_IRQCHIP gave it). */
  pic = [new Uint8Array(512), new Uint8Array(512)];
  #vcpus = /* @__PURE__ */ new Map();
  /** A new vCPU's local APIC (kvm_create_lapic): kept here by APIC id and on the vCPU. */
  addVcpu(vcpu) {
    const l = new Lapic(vcpu.id);
    this.lapics.set(vcpu.id, l);
    this.#vcpus.set(vcpu.id, vcpu);
    vcpu.lapic = l;
  }
  /** The vCPU's local APIC (vcpu->arch.apic). */
  lapic(vcpu) {
    return vcpu.lapic;
  }
  /**
   * KVM_IRQ_LINE: a rising edge (or a high level) on an IOAPIC pin delivers the pin's redirection
   * entry, unless masked, as a fixed interrupt to the APIC its destination names. Returns
   * KVM_IRQ_LINE_STATUS's value: 1 delivered, 0 coalesced (already pending or masked), -1 no pin.
   */
  irqLine(gsi, level) {
    if (gsi >= 24) return -1;
    const was = this.levels[gsi];
    this.levels[gsi] = level ? 1 : 0;
    if (!level || was) return 0;
    const e = this.redirtbl[gsi];
    if (e & REDIR_MASKED) return 0;
    const vector = Number(e & 0xffn);
    const dest = Number(e >> 56n & 0xffn);
    const lapic = [...this.lapics.values()].find((l) => l.get(32) >>> 24 === dest);
    if (!lapic) return 0;
    lapic.setIrr(vector);
    return 1;
  }
  /** KVM_GET_IRQCHIP. */
  getChip(chipId) {
    const chip = new Uint8Array(512);
    switch (chipId) {
      case 0:
      case 1:
        chip.set(this.pic[chipId]);
        break;
      case 2: {
        const dv = new DataView(chip.buffer);
        dv.setBigUint64(0, 0xfec00000n, true);
        dv.setUint32(12, this.ioapicId, true);
        this.redirtbl.forEach((e, i) => {
          dv.setBigUint64(24 + 8 * i, e, true);
        });
        break;
      }
      default:
        return new Errno("EINVAL", `irqchip ${chipId}`);
    }
    return { chipId, chip };
  }
  /** KVM_SET_IRQCHIP. */
  setChip(c) {
    switch (c.chipId) {
      case 0:
      case 1:
        this.pic[c.chipId].set(c.chip.subarray(0, 512));
        return void 0;
      case 2: {
        const dv = new DataView(c.chip.buffer, c.chip.byteOffset, 512);
        this.ioapicId = dv.getUint32(12, true);
        for (let i = 0; i < 24; i++) this.redirtbl[i] = dv.getBigUint64(24 + 8 * i, true);
        return void 0;
      }
      default:
        return new Errno("EINVAL", `irqchip ${c.chipId}`);
    }
  }
  /** An x2APIC MSR read in the kernel; undefined for one that does not exist (#GP). */
  readMsr(vcpu, index) {
    const reg = index - 2048 << 4;
    const l = this.lapic(vcpu);
    if (reg === 768) return BigInt(l.get(784)) << 32n | BigInt(l.get(768));
    if (reg === 32) return BigInt(vcpu.id);
    if (reg === 176 || reg > 1008) return void 0;
    return BigInt(l.get(reg));
  }
  /** An x2APIC MSR write in the kernel: false for one that does not exist or is read-only (#GP). */
  writeMsr(vcpu, index, value) {
    const reg = index - 2048 << 4;
    const l = this.lapic(vcpu);
    switch (reg) {
      case 176:
        l.eoi();
        return true;
      case 128:
        l.set(reg, Number(value & 0xffn));
        return true;
      case 768:
        l.set(768, Number(value & 0xffffffffn));
        l.set(784, Number(value >> 32n));
        this.#sendIpi(vcpu, Number(value & 0xffffffffn), Number(value >> 32n));
        return true;
      case 240:
      case 800:
      case 848:
      case 864:
      case 880:
        l.set(reg, Number(value & 0xffffffffn));
        return true;
      default:
        return false;
    }
  }
  /** kvm_apic_send_ipi: fixed, NMI, INIT and STARTUP to an x2APIC destination or a shorthand. */
  #sendIpi(from, icr, dest) {
    const mode = icr >>> 8 & 7;
    const shorthand = icr >>> 18 & 3;
    for (const [id, vcpu] of this.#vcpus) {
      const hit = shorthand === 1 ? id === from.id : shorthand === 2 ? true : shorthand === 3 ? id !== from.id : id === dest || dest === 4294967295;
      if (!hit) continue;
      const l = this.lapics.get(id);
      switch (mode) {
        case 0:
          l.setIrr(icr & 255);
          break;
        case 4:
          vcpu.nmiPending++;
          break;
        case 5:
          l.initPending = true;
          break;
        case 6:
          l.sipiVector = icr & 255;
          l.sipiPending = true;
          break;
        default:
          break;
      }
    }
  }
  /** kvm_vcpu_halt with an in-kernel APIC: the vCPU waits in the kernel for an interrupt. */
  halt(vcpu) {
    vcpu.mpState = 3;
    return 1;
  }
  /** kvm_emulate_ap_reset_hold with an in-kernel APIC: the AP waits in the kernel for a SIPI. */
  apResetHold(vcpu) {
    vcpu.mpState = 9;
    return 1;
  }
  /**
   * kvm_apic_accept_events: a pending INIT puts an AP in INIT_RECEIVED (the BSP runnable); a pending
   * SIPI is taken only by a vCPU in INIT_RECEIVED (the VM type's deliver-SIPI hook: SEV-ES answers
   * its AP reset hold), and dropped by any other.
   */
  acceptApicEvents(vcpu, deliverSipi) {
    const l = this.lapic(vcpu);
    if (l.initPending) {
      l.initPending = false;
      vcpu.mpState = kvmVcpuIsBsp(vcpu) ? 0 : 2;
    }
    if (l.sipiPending) {
      l.sipiPending = false;
      if (vcpu.mpState === 2) {
        deliverSipi(l.sipiVector);
        vcpu.mpState = 0;
      }
    }
  }
  /**
   * kvm_vcpu_has_events: what ends a vCPU's wait in kvm_vcpu_block. An interrupt counts only if the
   * vCPU could take it now (IF set, no shadow).
   */
  hasEvents(vcpu) {
    const l = this.lapic(vcpu);
    return l.initPending || l.sipiPending || vcpu.nmiPending > 0 || vcpu.pvUnhalted || l.pendingVector() >= 0 && interruptAllowed(vcpu);
  }
};
function kvmVcpuIsBsp(vcpu) {
  return ((vcpu.msrs.get(27) ?? 0n) & MSR_IA32_APICBASE_BSP) !== 0n;
}

// src/kvm/msr.ts
function kvmMsrAllowed(filter, index, access) {
  if (!filter) return true;
  for (const r of filter.ranges) {
    if (!(r.flags & access)) continue;
    if (index >= r.base && index < r.base + r.nmsrs) {
      const bit = index - r.base;
      return ((r.bitmap[bit >>> 3] ?? 0) & 1 << (bit & 7)) !== 0;
    }
  }
  return filter.defaultAllow;
}
const KVM_MSR_RET_OK = 0;
const KVM_MSR_RET_INVALID = 1;
const KVM_MSR_RET_UNSUPPORTED = 2;
const KVM_MSR_RET_FILTERED = 3;
function kvmMsrReason(ret3) {
  if (ret3 === 2) return KVM_MSR_EXIT_REASON_UNKNOWN;
  if (ret3 === 3) return KVM_MSR_EXIT_REASON_FILTER;
  return KVM_MSR_EXIT_REASON_INVAL;
}
const IN_KERNEL_MSRS = /* @__PURE__ */ new Map([
  [16, 0n],
  [27, 0xfee00800n],
  // xAPIC enabled; the BSP bit is set per vCPU (Vcpu)
  [3488, 0n]
]);
const MsrStore = class {
  #values = new Map(IN_KERNEL_MSRS);
  get(index) {
    return this.#values.get(index);
  }
  /** KVM_MSR_RET_OK, or UNSUPPORTED for an MSR KVM does not emulate. */
  set(index, value) {
    if (!this.#values.has(index)) return 2;
    this.#values.set(index, BigInt.asUintN(64, value));
    return 0;
  }
};
const SAVE_AREA_MSRS = /* @__PURE__ */ new Map([
  [3221225600, 208],
  [3221225601, 512],
  [3221225602, 520],
  [3221225603, 528],
  [3221225604, 536],
  [3221225730, 544],
  [372, 552],
  [373, 560],
  [374, 568],
  [3221225728, 64 + 8],
  [3221225729, 80 + 8],
  [631, 616],
  [473, 624]
]);
const KVM_MSR_INDEX_LIST = [
  ...SAVE_AREA_MSRS.keys(),
  ...IN_KERNEL_MSRS.keys()
].sort((a, b) => a - b);
const EFER_VALID = 0x1n | 0x100n | 0x400n | 0x800n;
const EFER_LME2 = 0x100n;
const EFER_LMA2 = 0x400n;
const EFER_NX = 0x800n;
function setEfer(vcpu, value) {
  if (value & ~EFER_VALID) return false;
  if (value & (EFER_LME2 | EFER_LMA2) && !guestCpuidHas(vcpu.cpuid, X86_FEATURE.LM)) return false;
  if (value & EFER_NX && !guestCpuidHas(vcpu.cpuid, X86_FEATURE.NX)) return false;
  const save = vcpu.vmcb.save;
  const old = save.getBigUint64(208, true);
  if (isPaging(vcpu) && (old & EFER_LME2) !== (value & EFER_LME2)) return false;
  save.setBigUint64(208, value & ~EFER_LMA2 | old & EFER_LMA2, true);
  return true;
}
function patValid(v) {
  for (let i = 0n; i < 64n; i += 8n) {
    const t = Number(v >> i & 0xffn);
    if (t === 2 || t === 3 || t > 7) return false;
  }
  return true;
}
function svmGetMsr(vcpu, index) {
  const irqchip = vcpu.vm.irqchip;
  if (irqchip && index >= 2048 && index <= 2303) {
    const v2 = irqchip.readMsr(vcpu, index);
    return v2 === void 0 ? { ret: 1, value: 0n } : { ret: 0, value: v2 };
  }
  const off = SAVE_AREA_MSRS.get(index);
  if (off !== void 0) return { ret: 0, value: vcpu.vmcb.save.getBigUint64(off, true) };
  const v = vcpu.msrs.get(index);
  return v === void 0 ? { ret: 2, value: 0n } : { ret: 0, value: v };
}
function svmSetMsr(vcpu, index, value, hostInitiated = false) {
  const irqchip = vcpu.vm.irqchip;
  if (irqchip && index >= 2048 && index <= 2303)
    return irqchip.writeMsr(vcpu, index, value) ? 0 : 1;
  const off = SAVE_AREA_MSRS.get(index);
  if (off !== void 0) {
    if (index === 3221225600 && !hostInitiated)
      return setEfer(vcpu, value) ? 0 : 1;
    if (index === 3221225600 && value & ~EFER_VALID) return 1;
    if (index === 631 && !patValid(value)) return 1;
    vcpu.vmcb.save.setBigUint64(off, BigInt.asUintN(64, value), true);
    return 0;
  }
  return vcpu.msrs.set(index, value);
}

// src/kvm/init-vmcb.ts
const SVM_HOST = {
  /** npt_enabled: nested paging (no #PF, INVLPG or CR3 intercepts). */
  npt: true,
  /** enable_vmware_backdoor (kvm.ko, default off): otherwise KVM intercepts #GP. */
  vmwareBackdoor: false,
  /** intercept_smi (kvm_amd.ko, default on). */
  interceptSmi: true,
  /** !kvm_pause_in_guest: the CPU has pause filtering, so KVM intercepts PAUSE. */
  pauseExiting: true,
  /** kvm_hlt_in_guest / kvm_mwait_in_guest: off (the model has no KVM_CAP_X86_DISABLE_EXITS). */
  hltInGuest: false,
  mwaitInGuest: false,
  /** X86_FEATURE_IDLE_HLT: absent, so KVM intercepts HLT rather than IDLE_HLT. */
  idleHlt: false,
  /** kvm_cpu_cap_has(X86_FEATURE_INVPCID) / (X86_FEATURE_RDTSCP). */
  invpcid: true,
  rdtscp: true,
  /** vls, vgif: matter only once EFER.SVME is set, which KVM never sees here (no nested SVM). */
  vls: true,
  vgif: true,
  /** lbrv: LBR virtualization is available (its MSRs stay intercepted until the guest enables LBRs). */
  lbrv: true,
  /** X86_FEATURE_IBPB, X86_FEATURE_FLUSH_L1D (Intel only), X86_FEATURE_V_SPEC_CTRL, X86_FEATURE_V_TSC_AUX. */
  ibpb: true,
  flushL1d: false,
  vSpecCtrl: true,
  vTscAux: true,
  /** kvm->arch.bus_lock_detection_enabled: off (the model has no KVM_CAP_X86_BUS_LOCK_EXIT). */
  busLockDetection: false
};
const MSR_TYPE_R = 1;
const MSR_TYPE_W = 2;
const MSR_TYPE_RW = 3;
function setExceptionIntercept(vmcb, vector, on) {
  vmcb.setIntercept(64 + vector, on);
}
function setDrIntercepts(vmcb) {
  for (let dr = 0; dr < 8; dr++) {
    vmcb.setIntercept(32 + dr, true);
    vmcb.setIntercept(48 + dr, true);
  }
}
function clrDrIntercepts(vmcb) {
  for (let bit = 32; bit < 32 + 32; bit++) vmcb.setIntercept(bit, false);
}
const INIT_INTERCEPTS = [
  0,
  3,
  4,
  16,
  INTERCEPT_CR3_WRITE,
  INTERCEPT_CR4_WRITE,
  INTERCEPT_CR8_WRITE,
  96,
  97,
  101,
  111,
  114,
  118,
  121,
  122,
  123,
  124,
  125,
  127,
  128,
  129,
  130,
  131,
  132,
  133,
  134,
  137,
  141,
  142,
  115
];
function initVmcb(vcpu) {
  const vmcb = vcpu.vmcb;
  vmcb.iopm.fill(255);
  vmcb.msrpm.fill(255);
  for (const bit of INIT_INTERCEPTS) vmcb.setIntercept(bit, true);
  setDrIntercepts(vmcb);
  for (const vector of [14, 6, 18, 17, 1])
    setExceptionIntercept(vmcb, vector, true);
  if (SVM_HOST.vmwareBackdoor) setExceptionIntercept(vmcb, 13, true);
  if (SVM_HOST.interceptSmi) vmcb.setIntercept(98, true);
  if (!SVM_HOST.mwaitInGuest) {
    vmcb.setIntercept(138, true);
    vmcb.setIntercept(139, true);
  }
  if (!SVM_HOST.hltInGuest) vmcb.setIntercept(SVM_HOST.idleHlt ? 166 : 120, true);
  vmcb.intCtl = V_INTR_MASKING_MASK;
  if (SVM_HOST.npt) {
    vmcb.setIntercept(121, false);
    setExceptionIntercept(vmcb, 14, false);
    vmcb.setIntercept(3, false);
    vmcb.setIntercept(INTERCEPT_CR3_WRITE, false);
  }
  vmcb.setIntercept(119, SVM_HOST.pauseExiting);
  vcpu.vm.typeOps.initVmcb?.(vcpu);
  svmRecalcIntercepts(vcpu);
}
function svmRecalcIntercepts(vcpu) {
  svmRecalcInstructionIntercepts(vcpu);
  svmRecalcMsrIntercepts(vcpu);
}
function eferSvme(vcpu) {
  if (vcpu.guestStateProtected) return false;
  return (vcpu.vmcb.save.getUint32(208, true) & EFER_SVME) !== 0;
}
function svmRecalcInstructionIntercepts(vcpu) {
  const vmcb = vcpu.vmcb;
  const cpuid = vcpu.cpuid;
  if (SVM_HOST.invpcid)
    vmcb.setIntercept(162, !SVM_HOST.npt || !guestCpuidHas(cpuid, X86_FEATURE.INVPCID));
  if (SVM_HOST.rdtscp) vmcb.setIntercept(135, !guestCpuidHas(cpuid, X86_FEATURE.RDTSCP));
  if (!eferSvme(vcpu)) {
    vmcb.setIntercept(130, true);
    vmcb.setIntercept(131, true);
    vmcb.setIntercept(133, true);
    vmcb.setIntercept(132, true);
  } else {
    if (guestCpuidIsIntelCompatible(cpuid)) {
      vmcb.setIntercept(130, true);
      vmcb.setIntercept(131, true);
    } else if (SVM_HOST.vls) {
      vmcb.setIntercept(130, false);
      vmcb.setIntercept(131, false);
    }
    if (SVM_HOST.vgif) {
      vmcb.setIntercept(133, false);
      vmcb.setIntercept(132, false);
    }
  }
  vmcb.setIntercept(111, true);
}
function svmSetInterceptForMsr(vcpu, msr2, type, intercept) {
  const msrpm = vcpu.vmcb.msrpm;
  const filter = vcpu.vm.msrFilter;
  if (type & 1)
    msrpmSet(msrpm, msr2, false, intercept || !kvmMsrAllowed(filter, msr2, KVM_MSR_FILTER_READ));
  if (type & 2)
    msrpmSet(msrpm, msr2, true, intercept || !kvmMsrAllowed(filter, msr2, KVM_MSR_FILTER_WRITE));
}
const SVM_PASSTHROUGH_MSRS = [
  3221225601,
  372,
  3221225729,
  3221225728,
  3221225730,
  3221225602,
  3221225603,
  3221225604
];
function svmRecalcMsrIntercepts(vcpu) {
  const cpuid = vcpu.cpuid;
  for (const msr2 of SVM_PASSTHROUGH_MSRS) svmSetInterceptForMsr(vcpu, msr2, 3, false);
  if (SVM_HOST.ibpb) svmSetInterceptForMsr(vcpu, 73, 2, !guestHasPredCmdMsr(cpuid));
  if (SVM_HOST.flushL1d)
    svmSetInterceptForMsr(vcpu, 267, 2, !guestCpuidHas(cpuid, X86_FEATURE.FLUSH_L1D));
  svmSetInterceptForMsr(
    vcpu,
    72,
    3,
    SVM_HOST.vSpecCtrl ? !guestHasSpecCtrlMsr(cpuid) : true
  );
  const intel = guestCpuidIsIntelCompatible(cpuid);
  svmSetInterceptForMsr(vcpu, 374, 3, intel);
  svmSetInterceptForMsr(vcpu, 373, 3, intel);
  vcpu.vm.typeOps.recalcMsrIntercepts?.(vcpu);
}
function guestHasSpecCtrlMsr(cpuid) {
  return guestCpuidHas(cpuid, X86_FEATURE.SPEC_CTRL) || guestCpuidHas(cpuid, X86_FEATURE.AMD_STIBP) || guestCpuidHas(cpuid, X86_FEATURE.AMD_IBRS) || guestCpuidHas(cpuid, X86_FEATURE.AMD_SSBD);
}
function guestHasPredCmdMsr(cpuid) {
  return guestCpuidHas(cpuid, X86_FEATURE.SPEC_CTRL) || guestCpuidHas(cpuid, X86_FEATURE.AMD_IBPB) || guestCpuidHas(cpuid, X86_FEATURE.SBPB);
}

// src/uapi/memslot.ts
const KVM_MEM_LOG_DIRTY_PAGES = 1;
const KVM_MEM_READONLY = 2;
const KVM_MEM_GUEST_MEMFD = 4;
const KVM_USER_MEM_SLOTS = 32764;
const KVM_MEM_SLOTS_NUM = 32767;
const KVM_MEM_MAX_NR_PAGES = 2 ** 31 - 1;
function slotId(slot2) {
  return slot2 & 65535;
}
function slotAsId(slot2) {
  return slot2 >>> 16;
}

// src/kvm/guest-memfd.ts
const FdTable = class {
  #gmem = /* @__PURE__ */ new Map();
  #next = 1e3;
  /** KVM_CREATE_GUEST_MEMFD: EINVAL for a size that is zero or not page aligned. */
  createGuestMemfd(owner, size) {
    if (!Number.isSafeInteger(size) || size <= 0 || size % 4096 !== 0) return "EINVAL";
    const f = { fd: this.#next++, owner, size, bindings: [] };
    this.#gmem.set(f.fd, f);
    return f;
  }
  /** kvm_gmem_bind: EBADF for a closed fd, EINVAL for anything but an unbound range of this VM's guest_memfd. */
  bind(owner, fd, offset, npages, slotId2) {
    const f = this.#gmem.get(fd);
    if (!f) return fd >= 0 && fd <= 2 ? "EINVAL" : "EBADF";
    if (f.owner !== owner) return "EINVAL";
    if (offset % 4096n !== 0n || offset + BigInt(npages) * 4096n > BigInt(f.size)) return "EINVAL";
    const start = Number(offset / 4096n);
    const end = start + npages;
    if (f.bindings.some((b) => b.start < end && start < b.end)) return "EINVAL";
    f.bindings.push({ start, end, slotId: slotId2 });
    return void 0;
  }
  /** kvm_gmem_unbind: the slot is deleted. */
  unbind(fd, slotId2) {
    const f = this.#gmem.get(fd);
    if (!f) return;
    const i = f.bindings.findIndex((b) => b.slotId === slotId2);
    if (i >= 0) f.bindings.splice(i, 1);
  }
  /** close(fd). */
  close(fd) {
    return this.#gmem.delete(fd);
  }
};

// src/kvm/profile.ts
const KVM_CORE_CURRENT = {
  name: "current",
  presetExitReasonUnknown: true,
  memoryFaultInfo: true,
  readonlyMemForProtectedVms: false,
  guestMemfd: true,
  xssInXsaveSize: true,
  vmTypes: true,
  maxGfnCheck: true,
  smm: true,
  msrExitFlagChecks: true,
  protectedStateIoctlsEinval: true,
  hypercallRetByProtectedState: true,
  rdpmcIgnoresHighBits: false
};
const KVM_CORE_5_17 = {
  name: "5.17",
  presetExitReasonUnknown: false,
  memoryFaultInfo: false,
  readonlyMemForProtectedVms: true,
  guestMemfd: false,
  xssInXsaveSize: false,
  vmTypes: false,
  maxGfnCheck: false,
  smm: true,
  msrExitFlagChecks: false,
  protectedStateIoctlsEinval: false,
  hypercallRetByProtectedState: false,
  rdpmcIgnoresHighBits: true
};

// src/uapi/dirty-log.ts
function dirtyBitmapBytes(npages) {
  return Math.ceil(npages / 64) * 8;
}

// src/kvm/memslots.ts
const GPA_NUMBER_LIMIT = 2n ** 53n;
function gfnToHva(slot2, gfn) {
  return slot2.userspaceAddr + (gfn - slot2.baseGfn) * 4096;
}
const MemslotSet = class {
  #byId = /* @__PURE__ */ new Map();
  /** Slots sorted by baseGfn. */
  #sorted = [];
  /**
   * Their ranges, interleaved for a tight search: #ranges[2i] is #sorted[i]'s base gfn and
   * #ranges[2i + 1] its end, so a slot's end and the next slot's base share a cache line.
   */
  #ranges = new Float64Array(32);
  /**
   * Last-used-slot cache (kvm_memslots.last_used_slot), its range kept as numbers so that a hit
   * needs no read of the slot object. An empty range [0, 0) when nothing is cached.
   */
  #lastUsed;
  #lastBase = 0;
  #lastEnd = 0;
  /**
   * Bucket index over the sorted bases: bucket b covers gfns [#indexBase + b * 2^k, ... + 2^k) and
   * #index[b] is the index of the last slot whose base is <= the bucket's first gfn, so the slot
   * of a gfn in bucket b lies in [#index[b], #index[b + 1]]: evenly spread slots need 0 or 1
   * search steps, clustered ones fall back to a binary search over their bucket's share. Built
   * lazily by lookup (see #stale), never per insert: creating 32764 slots stays cheap.
   */
  #index = new Int32Array(0);
  #indexBase = 0;
  /** 2^-k, exact, so (gfn - #indexBase) * #bucketScale floors to the bucket without a division. */
  #bucketScale = 0;
  /** Buckets times their width: gfns at or past #indexBase + #indexLimit are past the last base. */
  #indexLimit = 0;
  /** The slots changed since the index was built. */
  #stale = true;
  /** Lookups served by plain binary search since the last change, towards paying for a rebuild. */
  #staleLookups = 0;
  #indexBuilds = 0;
  #generation = 0;
  get size() {
    return this.#sorted.length;
  }
  /** How many times the lookup index has been (re)built: a diagnostic for tests. */
  get indexBuilds() {
    return this.#indexBuilds;
  }
  /**
   * kvm_memslots.generation: bumped by every change to the set or to a slot in it, so caches of
   * translations through the slots (the nested page table's, a cached guest page mapping) know
   * when to drop them.
   */
  get generation() {
    return this.#generation;
  }
  /** A slot's flags or dirty bitmap changed in place (KVM_MR_FLAGS_ONLY): a new generation. */
  slotChanged() {
    this.#generation++;
  }
  /** The slot with this id, if any. */
  get(id) {
    return this.#byId.get(id);
  }
  /** All slots in gfn order. */
  slots() {
    return this.#sorted;
  }
  /** The slot containing `gfn` (KVM's gfn_to_memslot). */
  lookup(gfn) {
    if (gfn >= this.#lastBase && gfn < this.#lastEnd) return this.#lastUsed;
    const i = this.#stale ? this.#staleFloor(gfn) : this.#indexedFloor(gfn);
    if (i < 0) return void 0;
    const end = this.#ranges[2 * i + 1];
    if (gfn >= end) return void 0;
    const slot2 = this.#sorted[i];
    this.#lastUsed = slot2;
    this.#lastBase = this.#ranges[2 * i];
    this.#lastEnd = end;
    return slot2;
  }
  /** True when [baseGfn, baseGfn + npages) intersects a slot other than `exceptId`. */
  overlaps(baseGfn, npages, exceptId) {
    let i = this.#floor(baseGfn + npages - 1);
    while (i >= 0) {
      if (this.#ranges[2 * i + 1] <= baseGfn) return false;
      if (this.#sorted[i].id !== exceptId) return true;
      i--;
    }
    return false;
  }
  /** Add a slot (caller has checked it overlaps nothing). */
  insert(slot2) {
    this.#byId.set(slot2.id, slot2);
    const n2 = this.#sorted.length;
    if (2 * n2 === this.#ranges.length) this.#grow();
    const at = this.#floor(slot2.baseGfn) + 1;
    this.#sorted.splice(at, 0, slot2);
    const ranges = this.#ranges;
    ranges.copyWithin(2 * at + 2, 2 * at, 2 * n2);
    ranges[2 * at] = slot2.baseGfn;
    ranges[2 * at + 1] = slot2.baseGfn + slot2.npages;
    this.#changed();
  }
  /** Remove a slot. */
  remove(slot2) {
    this.#byId.delete(slot2.id);
    const at = this.#sorted.indexOf(slot2, Math.max(0, this.#floor(slot2.baseGfn)));
    if (at < 0) return;
    const n2 = this.#sorted.length;
    this.#sorted.splice(at, 1);
    this.#ranges.copyWithin(2 * at, 2 * at + 2, 2 * n2);
    if (this.#lastUsed === slot2) {
      this.#lastUsed = void 0;
      this.#lastBase = 0;
      this.#lastEnd = 0;
    }
    this.#changed();
  }
  /** Move a slot to a new base gfn (KVM_MR_MOVE). */
  move(slot2, baseGfn) {
    this.remove(slot2);
    slot2.baseGfn = baseGfn;
    this.insert(slot2);
  }
  #changed() {
    this.#generation++;
    this.#stale = true;
    this.#staleLookups = 0;
  }
  /**
   * #floor while the index is stale. Below 64 slots the first lookup after a change rebuilds it;
   * above, lookups run a plain binary search until there have been n / 64 of them since the last
   * change (about the cost of a rebuild), then rebuild. So changes interleaved with a few lookups
   * (setting up slots, dirty-log tests) cost O(log n) per lookup instead of an O(n) rebuild each.
   */
  #staleFloor(gfn) {
    if (this.#staleLookups >= this.#sorted.length >>> 6) {
      this.#rebuild();
      return this.#indexedFloor(gfn);
    }
    this.#staleLookups++;
    return this.#floor(gfn);
  }
  /** #floor through the bucket index (which must be up to date). */
  #indexedFloor(gfn) {
    const off = gfn - this.#indexBase;
    if (!(off >= 0)) return -1;
    if (off >= this.#indexLimit) return this.#sorted.length - 1;
    const b = Math.floor(off * this.#bucketScale);
    const index = this.#index;
    let lo = index[b];
    let hi = index[b + 1];
    const ranges = this.#ranges;
    while (lo < hi) {
      const mid = lo + hi + 1 >>> 1;
      if (ranges[2 * mid] <= gfn) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
  /** Build the bucket index: about two buckets per slot, as few as the span of the bases allows. */
  #rebuild() {
    this.#stale = false;
    this.#staleLookups = 0;
    this.#indexBuilds++;
    const n2 = this.#sorted.length;
    const ranges = this.#ranges;
    if (n2 === 0) {
      this.#indexBase = Number.POSITIVE_INFINITY;
      this.#indexLimit = 0;
      return;
    }
    const first = ranges[0];
    const span = ranges[2 * n2 - 2] - first + 1;
    let width = 1;
    while (span / width > 2 * n2) width *= 2;
    const buckets = Math.ceil(span / width);
    if (this.#index.length < buckets + 1)
      this.#index = new Int32Array(Math.max(buckets + 1, 2 * this.#index.length));
    const index = this.#index;
    let j = 0;
    for (let b = 0; b <= buckets; b++) {
      const start = first + b * width;
      while (j + 1 < n2 && ranges[2 * j + 2] <= start) j++;
      index[b] = j;
    }
    this.#indexBase = first;
    this.#bucketScale = 1 / width;
    this.#indexLimit = buckets * width;
  }
  /** Index of the last slot whose base is <= gfn, or -1. */
  #floor(gfn) {
    const ranges = this.#ranges;
    let lo = 0;
    let hi = this.#sorted.length - 1;
    while (lo <= hi) {
      const mid = lo + hi >>> 1;
      if (ranges[2 * mid] <= gfn) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi;
  }
  #grow() {
    const ranges = new Float64Array(this.#ranges.length * 2);
    ranges.set(this.#ranges);
    this.#ranges = ranges;
  }
};

// src/kvm/guest-memory.ts
function fault2(gpa, cause, slot2, hva) {
  return { errno: "EFAULT", gpa, cause, slot: slot2, hva };
}
function markPageDirtyInSlot(slot2, gfn) {
  const bitmap = slot2.dirtyBitmap;
  if (!bitmap) return;
  const rel = gfn - slot2.baseGfn;
  bitmap.bytes[rel >>> 3] |= 1 << (rel & 7);
}
function kvmReadGuest(space, host, gpa, dst) {
  let done = 0;
  const len = dst.length;
  while (done < len) {
    const cur = gpa + done;
    const gfn = Math.floor(cur / 4096);
    const slot2 = space.lookup(gfn);
    if (!slot2) return fault2(cur, "no-slot");
    const slotEnd = (slot2.baseGfn + slot2.npages) * 4096;
    const n2 = Math.min(len - done, slotEnd - cur);
    const hva = gfnToHva(slot2, gfn) + (cur - gfn * 4096);
    const f = host.read(hva, n2 === len ? dst : dst.subarray(done, done + n2));
    if (f) return fault2(cur + (f.hva - hva), f.kind, slot2, f.hva);
    done += n2;
  }
  return void 0;
}
function kvmWriteGuest(space, host, gpa, src) {
  let done = 0;
  const len = src.length;
  while (done < len) {
    const cur = gpa + done;
    const gfn = Math.floor(cur / 4096);
    const slot2 = space.lookup(gfn);
    if (!slot2) return fault2(cur, "no-slot");
    if (slot2.flags & 2) return fault2(cur, "readonly", slot2);
    const slotEnd = (slot2.baseGfn + slot2.npages) * 4096;
    const n2 = Math.min(len - done, slotEnd - cur);
    const hva = gfnToHva(slot2, gfn) + (cur - gfn * 4096);
    const f = host.write(hva, n2 === len ? src : src.subarray(done, done + n2));
    const written = f ? f.hva - hva : n2;
    if (slot2.dirtyBitmap && written > 0) {
      const last = Math.floor((cur + written - 1) / 4096);
      for (let g = gfn; g <= last; g++) markPageDirtyInSlot(slot2, g);
    }
    if (f) return fault2(cur + written, f.kind, slot2, f.hva);
    done += n2;
  }
  return void 0;
}
const TLB_SIZE2 = 64;
const TR_MMIO = -2;
const TR_FAULT = -1;
const TR_READONLY = -3;
function trResult(i) {
  return -i;
}
const EMPTY_PAGE = new Uint8Array(0);
const NestedPageTable = class {
  constructor(space, host) {
    this.space = space;
    this.host = host;
    this.#tlbPage.fill(EMPTY_PAGE);
  }
  space;
  host;
  /** The host-side fault behind the last NPT_FAULT, for the NPF handler. */
  lastFault;
  #views = [];
  #slots = [];
  #gfns = [];
  #tlbGfn = new Float64Array(64).fill(-1);
  #tlbPage = new Array(64);
  #tlbSlot = new Array(64);
  #tlbWritable = new Uint8Array(64);
  #slotGen = -1;
  #hostGen = -1;
  #epoch = 0;
  /** The last partial-page window read through (a view made once, not per access). */
  #winPage;
  #winOff = 0;
  #winLen = 0;
  #win;
  read(gpa, dst) {
    const len = dst.length;
    const off = gpa % 4096;
    if (len > 0 && off + len <= 4096 && off >= 0 && Number.isSafeInteger(gpa)) {
      const i = this.#translate(gpa, false);
      if (i < 0) return trResult(i);
      const page = this.#tlbPage[i];
      dst.set(len === 4096 ? page : this.#window(page, off, len));
      return 0;
    }
    const r = this.#resolve(gpa, len, false);
    if (r !== 0) return r;
    let at = 0;
    for (const v of this.#views) {
      dst.set(v, at);
      at += v.length;
    }
    return 0;
  }
  write(gpa, src) {
    const len = src.length;
    const off = gpa % 4096;
    if (len > 0 && off + len <= 4096 && off >= 0 && Number.isSafeInteger(gpa)) {
      const i = this.#translate(gpa, true);
      if (i < 0) return trResult(i);
      this.#tlbPage[i].set(src, off);
      markPageDirtyInSlot(this.#tlbSlot[i], this.#tlbGfn[i]);
      return 0;
    }
    const r = this.#resolve(gpa, len, true);
    if (r !== 0) return r;
    let at = 0;
    const views = this.#views;
    for (let i = 0; i < views.length; i++) {
      const v = views[i];
      v.set(src.subarray(at, at + v.length));
      at += v.length;
      markPageDirtyInSlot(this.#slots[i], this.#gfns[i]);
    }
    return 0;
  }
  /** GuestPhysMemory.page: the cached translation's page view; a write mapping marks it dirty. */
  page(gpa, write) {
    if (!(gpa >= 0) || !Number.isSafeInteger(gpa)) return void 0;
    const i = this.#translate(gpa, write);
    if (i < 0) return void 0;
    if (write) markPageDirtyInSlot(this.#tlbSlot[i], this.#tlbGfn[i]);
    return this.#tlbPage[i];
  }
  /**
   * The cache entry for the page of `gpa` (a safe non-negative integer), filled on a miss; TR_MMIO
   * when no memslot holds that page, TR_READONLY for a write to a read-only slot, TR_FAULT (lastFault set) when the host page cannot
   * be mapped.
   */
  #translate(gpa, write) {
    if (this.space.generation !== this.#slotGen || this.host.generation !== this.#hostGen) this.#flush();
    const gfn = (gpa - gpa % 4096) / 4096;
    const i = gfn % 64;
    if (this.#tlbGfn[i] === gfn && (!write || this.#tlbWritable[i] === 1)) return i;
    const slot2 = this.space.lookup(gfn);
    if (!slot2) return TR_MMIO;
    if (write && slot2.flags & 2) return TR_READONLY;
    const pageHva = gfnToHva(slot2, gfn);
    const v = this.host.view(pageHva, 4096, write);
    if (!(v instanceof Uint8Array)) {
      this.lastFault = fault2(gpa, v.kind, slot2, pageHva + (gpa - gfn * 4096));
      return TR_FAULT;
    }
    this.#tlbGfn[i] = gfn;
    this.#tlbPage[i] = v;
    this.#tlbSlot[i] = slot2;
    this.#tlbWritable[i] = write ? 1 : 0;
    return i;
  }
  /**
   * GuestPhysMemory.generation: bumped whenever the pages page() handed out may no longer be
   * what the guest reaches (a memslot changed, a host mapping changed, dirty logging
   * write-protected pages again).
   */
  get generation() {
    if (this.space.generation !== this.#slotGen || this.host.generation !== this.#hostGen) this.#flush();
    return this.#epoch;
  }
  #flush() {
    this.#epoch++;
    this.#tlbGfn.fill(-1);
    this.#tlbPage.fill(EMPTY_PAGE);
    this.#winPage = void 0;
    this.#win = void 0;
    this.#slotGen = this.space.generation;
    this.#hostGen = this.host.generation;
  }
  /** `len` bytes of `page` from `off`, as a view kept for the next access of the same window. */
  #window(page, off, len) {
    if (page === this.#winPage && off === this.#winOff && len === this.#winLen) return this.#win;
    const w = new Uint8Array(page.buffer, page.byteOffset + off, len);
    this.#winPage = page;
    this.#winOff = off;
    this.#winLen = len;
    this.#win = w;
    return w;
  }
  #resolve(gpa, len, write) {
    const views = this.#views;
    views.length = 0;
    this.#slots.length = 0;
    this.#gfns.length = 0;
    let done = 0;
    while (done < len) {
      const cur = gpa + done;
      const gfn = Math.floor(cur / 4096);
      const slot2 = this.space.lookup(gfn);
      if (!slot2) return 2;
      if (write && slot2.flags & 2) return 3;
      const n2 = Math.min(len - done, 4096 - cur % 4096);
      const hva = gfnToHva(slot2, gfn) + (cur - gfn * 4096);
      const v = this.host.view(hva, n2, write);
      if (!(v instanceof Uint8Array)) {
        this.lastFault = fault2(cur, v.kind, slot2, v.hva);
        return 1;
      }
      views.push(v);
      this.#slots.push(slot2);
      this.#gfns.push(gfn);
      done += n2;
    }
    return 0;
  }
};

// src/kvm/memory-region.ts
const PAGE = 4096n;
const U64 = 1n << 64n;
const fail = (errno) => ({ ok: false, errno });
function setMemoryRegion(ctx, mem, legacy) {
  const flags = mem.flags >>> 0;
  if (legacy && flags & ~(1 | 2)) return fail("EINVAL");
  const id = slotId(mem.slot);
  const asId = slotAsId(mem.slot >>> 0);
  if (id >= 32764) return fail("EINVAL");
  let valid = 1;
  if (ctx.guestMemfd) valid |= 4;
  if (flags & 4) valid &= ~1;
  if (ctx.readonlyMem && !(flags & 4)) valid |= 2;
  if (flags & ~valid) return fail("EINVAL");
  const size = BigInt.asUintN(64, mem.memorySize);
  const gpa = BigInt.asUintN(64, mem.guestPhysAddr);
  const hva = BigInt.asUintN(64, mem.userspaceAddr);
  if (size % PAGE !== 0n) return fail("EINVAL");
  if (gpa % PAGE !== 0n) return fail("EINVAL");
  if (hva % PAGE !== 0n || hva + size > BigInt(ctx.userAddrLimit)) return fail("EINVAL");
  const gmemOffset = BigInt.asUintN(64, mem.guestMemfdOffset ?? 0n);
  if (flags & 4 && (gmemOffset % PAGE !== 0n || gmemOffset + size >= U64))
    return fail("EINVAL");
  if (asId >= ctx.spaces.length || id >= 32767) return fail("EINVAL");
  if (gpa + size >= U64) return fail("EINVAL");
  const npagesBig = size / PAGE;
  if (npagesBig > BigInt(KVM_MEM_MAX_NR_PAGES)) return fail("EINVAL");
  const space = ctx.spaces[asId];
  const old = space.get(id);
  if (size === 0n) {
    if (!old) return fail("EINVAL");
    space.remove(old);
    if (old.gmemFd !== void 0) ctx.fds?.unbind(old.gmemFd, old.id);
    if (old.dirtyBitmap) ctx.allocator.free(old.dirtyBitmap);
    old.dirtyBitmap = void 0;
    return { ok: true, change: "delete", slot: old };
  }
  const npages = Number(npagesBig);
  const baseGfn = Number(gpa / PAGE);
  const userspaceAddr = Number(hva);
  let change;
  if (!old) {
    change = "create";
  } else {
    if (flags & 4) return fail("EINVAL");
    if (userspaceAddr !== old.userspaceAddr || npages !== old.npages || (flags ^ old.flags) & 2) {
      return fail("EINVAL");
    }
    if (baseGfn !== old.baseGfn) change = "move";
    else if (flags !== old.flags) change = "flags-only";
    else return { ok: true, change: "none", slot: old };
  }
  if ((change === "create" || change === "move") && space.overlaps(baseGfn, npages, old?.id))
    return fail("EEXIST");
  const gmemFd = flags & 4 ? mem.guestMemfd ?? 0 : void 0;
  if (gmemFd !== void 0) {
    const r = ctx.fds ? ctx.fds.bind(ctx.owner ?? ctx, gmemFd, gmemOffset, npages, id) : "EBADF";
    if (r) return fail(r);
  }
  const unbind = () => {
    if (gmemFd !== void 0) ctx.fds?.unbind(gmemFd, id);
  };
  let bitmap = old?.dirtyBitmap;
  let fresh = false;
  if (!(flags & 1)) bitmap = void 0;
  else if (!bitmap) {
    bitmap = ctx.allocator.alloc(2 * dirtyBitmapBytes(npages), "dirty-bitmap");
    if (!bitmap) {
      unbind();
      return fail("ENOMEM");
    }
    fresh = true;
  }
  if ((change === "create" || change === "move") && baseGfn + npages - 1 > ctx.maxGfn) {
    if (fresh) ctx.allocator.free(bitmap);
    unbind();
    return fail("EINVAL");
  }
  if (change === "create") {
    const slot3 = { id, asId, baseGfn, npages, flags, userspaceAddr, dirtyBitmap: bitmap, gmemFd };
    space.insert(slot3);
    return { ok: true, change, slot: slot3 };
  }
  const slot2 = old;
  if (slot2.dirtyBitmap && slot2.dirtyBitmap !== bitmap) ctx.allocator.free(slot2.dirtyBitmap);
  slot2.dirtyBitmap = bitmap;
  slot2.flags = flags;
  if (change === "move") space.move(slot2, baseGfn);
  else space.slotChanged();
  return { ok: true, change, slot: slot2 };
}

// src/kvm/userspace-exits.ts
const NO_DATA2 = [];
function internalError(vcpu, suberror, data) {
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = 17;
  run.setU32(32, suberror);
  run.setU32(36, data.length);
  for (let i = 0; i < data.length; i++) run.setDataWord(i, data[i]);
  return 0;
}
function emulationFailure(vcpu) {
  return internalError(vcpu, 1, NO_DATA2);
}
function unexpectedExit(vcpu) {
  return internalError(vcpu, 4, [BigInt(vcpu.vmcb.exitCode), 0n]);
}
function prepareMemoryFaultExit(vcpu, gpa, size, flags = 0n) {
  if (!vcpu.vm.core.memoryFaultInfo) return;
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = 39;
  run.setU64(32, flags);
  run.setU64n(40, gpa);
  run.setU64n(48, size);
}

// src/kvm/cr.ts
const MASK325 = 0xffffffffn;
const X86_CR0_PE = 1;
const X86_CR0_MP = 1 << 1;
const X86_CR0_TS = 1 << 3;
const X86_CR0_ET = 1 << 4;
const X86_CR0_WP = 1 << 16;
const X86_CR0_NW = 1 << 29;
const X86_CR0_CD = 1 << 30;
const X86_CR0_PG = 2147483648;
const CR0_DEFINED = 3758424127;
const X86_CR0_PDPTR_BITS = X86_CR0_CD | X86_CR0_NW | X86_CR0_PG;
const X86_CR4_DE = 1 << 3;
const X86_CR4_PSE = 1 << 4;
const X86_CR4_PAE = CR4_PAE;
const X86_CR4_PGE = 1 << 7;
const X86_CR4_UMIP = 1 << 11;
const X86_CR4_LA57 = 1 << 12;
const X86_CR4_VMXE = 1 << 13;
const X86_CR4_FSGSBASE = 1 << 16;
const X86_CR4_PCIDE = 1 << 17;
const X86_CR4_OSXSAVE2 = 1 << 18;
const X86_CR4_SMEP = 1 << 20;
const X86_CR4_SMAP = 1 << 21;
const X86_CR4_PKE2 = 1 << 22;
const X86_CR4_CET = 1 << 23;
const X86_CR4_LAM_SUP = 1 << 28;
const CR4_DEFINED = 284639231;
const X86_CR4_PDPTR_BITS = X86_CR4_PGE | X86_CR4_PSE | X86_CR4_PAE | X86_CR4_SMEP;
const X86_CR3_PCID_NOFLUSH = 1n << 63n;
const X86_CR3_PCID_MASK = 0xfffn;
const CR_VALID_HI = 2147483648;
const SVM_EXITINFO_REG_MASK = 15;
function loadPdptrs(vcpu, cr3) {
  const gpa = Number(cr3 & ~0xfffn & (1n << 52n) - 1n | cr3 & 0xfe0n);
  const bytes = new Uint8Array(32);
  if (vcpu.vm.readGuest(gpa, bytes)) return false;
  const view = new DataView(bytes.buffer);
  const rsvd = ~0n << BigInt(vcpu.vm.maxPhysBits) & 0xffffffffffffffffn | 0x1e0n | 0x6n;
  for (let i = 0; i < 4; i++) {
    const pdpte = view.getBigUint64(8 * i, true);
    if (pdpte & 1n && pdpte & rsvd) return false;
  }
  return true;
}
function svmSetCr0(vcpu, cr0) {
  const save = vcpu.vmcb.save;
  const efer = save.getUint32(208, true);
  const pg = (Number(cr0 & MASK325) & X86_CR0_PG) !== 0;
  if (efer & EFER_LME) {
    if (!isPaging(vcpu) && pg) save.setUint32(208, efer | EFER_LMA, true);
    if (isPaging(vcpu) && !pg) save.setUint32(208, efer & ~EFER_LMA, true);
  }
  save.setBigUint64(344, BigInt.asUintN(64, cr0), true);
  if (sevEsGuest(vcpu)) return;
  const low = Number(cr0 & MASK325);
  const same = SVM_HOST.npt && (low & (X86_CR0_CD | X86_CR0_NW)) === 0;
  vcpu.vmcb.setIntercept(0, !same);
  vcpu.vmcb.setIntercept(16, !same);
}
function kvmSetCr0(vcpu, value) {
  const old = kvmReadCr0(vcpu);
  if (value >> 32n) return false;
  let cr0 = Number(value);
  if (cr0 & X86_CR0_NW && !(cr0 & X86_CR0_CD)) return false;
  if (cr0 & X86_CR0_PG && !(cr0 & X86_CR0_PE)) return false;
  cr0 = ((cr0 | X86_CR0_ET) & 3758424127) >>> 0;
  const save = vcpu.vmcb.save;
  const lme = (save.getUint32(208, true) & EFER_LME) !== 0;
  if (lme && !isPaging(vcpu) && cr0 & X86_CR0_PG) {
    if (!isPae(vcpu)) return false;
    if (save.getUint16(16 + 2, true) & SVM_SELECTOR_L_MASK) return false;
  }
  if (!lme && cr0 & X86_CR0_PG && isPae(vcpu) && (cr0 ^ old) & X86_CR0_PDPTR_BITS && !loadPdptrs(vcpu, kvmReadCr3(vcpu)))
    return false;
  const cr4 = kvmReadCr4(vcpu);
  if (!(cr0 & X86_CR0_PG) && (is64BitMode(vcpu) || cr4 & X86_CR4_PCIDE)) return false;
  if (!(cr0 & X86_CR0_WP) && cr4 & X86_CR4_CET) return false;
  svmSetCr0(vcpu, BigInt(cr0));
  return true;
}
function svmSetCr4(vcpu, cr4) {
  vcpu.vmcb.save.setBigUint64(328, BigInt(cr4 >>> 0), true);
  if (vcpu.guestStateProtected) vcpu.cr4 = cr4 >>> 0;
}
function kvmIsValidCr4(vcpu, value) {
  if (value >> 32n) return false;
  const cr4 = Number(value);
  if (cr4 & ~284639231) return false;
  const has = (f) => guestCpuidHas(vcpu.cpuid, f);
  let rsvd = X86_CR4_VMXE | X86_CR4_LAM_SUP;
  if (!has(X86_FEATURE.XSAVE)) rsvd |= X86_CR4_OSXSAVE2;
  if (!has(X86_FEATURE.SMEP)) rsvd |= X86_CR4_SMEP;
  if (!has(X86_FEATURE.SMAP)) rsvd |= X86_CR4_SMAP;
  if (!has(X86_FEATURE.FSGSBASE)) rsvd |= X86_CR4_FSGSBASE;
  if (!has(X86_FEATURE.PKU)) rsvd |= X86_CR4_PKE2;
  if (!has(X86_FEATURE.LA57)) rsvd |= X86_CR4_LA57;
  if (!has(X86_FEATURE.UMIP)) rsvd |= X86_CR4_UMIP;
  if (!has(X86_FEATURE.PCID)) rsvd |= X86_CR4_PCIDE;
  if (!has(X86_FEATURE.SHSTK)) rsvd |= X86_CR4_CET;
  return (cr4 & rsvd) === 0;
}
function kvmSetCr4(vcpu, value) {
  const old = kvmReadCr4(vcpu);
  if (!kvmIsValidCr4(vcpu, value)) return false;
  const cr4 = Number(value) >>> 0;
  if (isLongMode(vcpu)) {
    if (!(cr4 & X86_CR4_PAE)) return false;
    if ((cr4 ^ old) & X86_CR4_LA57) return false;
  } else if (isPaging(vcpu) && cr4 & X86_CR4_PAE && (cr4 ^ old) & X86_CR4_PDPTR_BITS && !loadPdptrs(vcpu, kvmReadCr3(vcpu))) {
    return false;
  }
  if (cr4 & X86_CR4_PCIDE && !(old & X86_CR4_PCIDE)) {
    if (kvmReadCr3(vcpu) & X86_CR3_PCID_MASK || !isLongMode(vcpu)) return false;
  }
  if (cr4 & X86_CR4_CET && !(kvmReadCr0(vcpu) & X86_CR0_WP)) return false;
  svmSetCr4(vcpu, cr4);
  return true;
}
function kvmSetCr3(vcpu, value) {
  let cr3 = BigInt.asUintN(64, value);
  if (kvmReadCr4(vcpu) & X86_CR4_PCIDE) cr3 &= ~X86_CR3_PCID_NOFLUSH;
  if (cr3 === kvmReadCr3(vcpu) && !isPaePaging(vcpu)) return true;
  if (cr3 >> BigInt(vcpu.vm.maxPhysBits)) return false;
  if (isPaePaging(vcpu) && !loadPdptrs(vcpu, cr3)) return false;
  vcpu.vmcb.save.setBigUint64(336, cr3, true);
  return true;
}
function kvmSetCr8(vcpu, value) {
  if (value & ~0xfn) return false;
  const cr8 = Number(value);
  const lapic = vcpu.lapic;
  if (lapic) lapic.set(128, cr8 << 4 | lapic.get(128) & 4);
  const vmcb = vcpu.vmcb;
  vmcb.intCtl = vmcb.intCtl & ~15 | cr8;
  return true;
}
function syncLapicToCr8(vcpu) {
  if (!vcpu.lapic) return;
  const vmcb = vcpu.vmcb;
  vmcb.intCtl = vmcb.intCtl & ~15 | kvmGetCr8(vcpu);
}
function emulateOnInterception(vcpu) {
  return emulationFailure(vcpu);
}
function crInterception(vcpu) {
  const vmcb = vcpu.vmcb;
  if (!(vmcb.exitInfo1Hi & 2147483648)) return emulateOnInterception(vcpu);
  const reg = vmcb.exitInfo1Lo & 15;
  const code = vmcb.exitCode;
  let cr = code === 101 ? 16 : code - 0;
  let ok4 = true;
  if (cr >= 16) {
    cr -= 16;
    const val = kvmRegisterRead(vcpu, reg);
    switch (cr) {
      case 0:
        ok4 = kvmSetCr0(vcpu, val);
        break;
      case 3:
        ok4 = kvmSetCr3(vcpu, val);
        break;
      case 4:
        ok4 = kvmSetCr4(vcpu, val);
        break;
      case 8:
        ok4 = kvmSetCr8(vcpu, val);
        break;
      default:
        kvmQueueException(vcpu, 6);
        return 1;
    }
  } else {
    const save = vcpu.vmcb.save;
    let val;
    switch (cr) {
      case 0:
        val = save.getBigUint64(344, true);
        break;
      case 2:
        val = save.getBigUint64(576, true);
        break;
      case 3:
        val = kvmReadCr3(vcpu);
        break;
      case 4:
        val = BigInt(kvmReadCr4(vcpu));
        break;
      case 8:
        val = BigInt(kvmGetCr8(vcpu));
        break;
      default:
        kvmQueueException(vcpu, 6);
        return 1;
    }
    kvmRegisterWrite(vcpu, reg, val);
  }
  return kvmCompleteInsnGp(vcpu, !ok4);
}
function cr8WriteInterception(vcpu) {
  const prev = kvmGetCr8(vcpu);
  const r = crInterception(vcpu);
  if (vcpu.lapic) return r;
  if (prev <= kvmGetCr8(vcpu)) return r;
  vcpu.runArea.exitReason = 11;
  return 0;
}
function crTrap(vcpu) {
  const vmcb = vcpu.vmcb;
  const value = vmcb.exitInfo1;
  let ok4 = true;
  switch (vmcb.exitCode - 144) {
    case 0:
      svmSetCr0(vcpu, value);
      break;
    case 4:
      svmSetCr4(vcpu, Number(value & MASK325));
      break;
    case 8:
      ok4 = kvmSetCr8(vcpu, value);
      break;
    default:
      kvmQueueException(vcpu, 6);
      return 1;
  }
  return kvmCompleteInsnGp(vcpu, !ok4);
}
function eferTrap(vcpu) {
  const ok4 = setEfer(vcpu, vcpu.vmcb.exitInfo1 & ~BigInt(EFER_SVME));
  return kvmCompleteInsnGp(vcpu, !ok4);
}

// src/kvm/dr.ts
function kvmDr6Fixed(vcpu) {
  let fixed = DR6_FIXED_1;
  if (!guestCpuidHas(vcpu.cpuid, X86_FEATURE.RTM)) fixed |= DR6_RTM;
  if (!guestCpuidHas(vcpu.cpuid, X86_FEATURE.BUS_LOCK_DETECT)) fixed |= DR6_BUS_LOCK;
  return fixed;
}
function kvmGetDr(vcpu, dr) {
  switch (dr) {
    case 0:
    case 1:
    case 2:
    case 3:
      return vcpu.db[dr];
    case 4:
    case 6:
      return vcpu.dr6;
    default:
      return vcpu.vmcb.save.getBigUint64(352, true);
  }
}
function kvmSetDr(vcpu, dr, val) {
  switch (dr) {
    case 0:
    case 1:
    case 2:
    case 3:
      vcpu.db[dr] = BigInt.asUintN(64, val);
      return true;
    case 4:
    case 6:
      if (val >> 32n) return false;
      vcpu.dr6 = val & DR6_VOLATILE | kvmDr6Fixed(vcpu);
      return true;
    default:
      if (val >> 32n) return false;
      if (!vcpu.guestStateProtected)
        vcpu.vmcb.save.setBigUint64(352, val & DR7_VOLATILE | DR7_FIXED_1, true);
      return true;
  }
}
function drInterception(vcpu) {
  if (sevEsGuest(vcpu)) return 1;
  if (vcpu.guestDebug === 0) {
    clrDrIntercepts(vcpu.vmcb);
    vcpu.dbRegsWontExit = true;
    return 1;
  }
  const vmcb = vcpu.vmcb;
  const reg = vmcb.exitInfo1Lo & 15;
  const dr = vmcb.exitCode - 32;
  let ok4 = true;
  if (dr >= 16) ok4 = kvmSetDr(vcpu, dr - 16, kvmRegisterRead(vcpu, reg));
  else kvmRegisterWrite(vcpu, reg, kvmGetDr(vcpu, dr));
  return kvmCompleteInsnGp(vcpu, !ok4);
}
function svmLoadDebugRegs(vcpu) {
  if (vcpu.guestStateProtected) return;
  vcpu.vmcb.save.setBigUint64(360, vcpu.dbRegsWontExit ? vcpu.dr6 : DR6_ACTIVE_LOW, true);
}
function svmSyncDirtyDebugRegs(vcpu) {
  if (!vcpu.dbRegsWontExit) return;
  vcpu.dr6 = vcpu.vmcb.save.getBigUint64(360, true);
  vcpu.dbRegsWontExit = false;
  setDrIntercepts(vcpu.vmcb);
}

// src/kvm/exceptions.ts
function dbInterception(vcpu) {
  const save = vcpu.vmcb.save;
  if (!(vcpu.guestDebug & (2 | 131072))) {
    const payload = BigInt(save.getUint32(360, true)) ^ DR6_ACTIVE_LOW;
    kvmQueueExceptionP(vcpu, 1, payload);
    return 1;
  }
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = 4;
  run.setU64(48, save.getBigUint64(360, true));
  run.setU64(56, save.getBigUint64(352, true));
  run.setU64(
    40,
    BigInt.asUintN(64, save.getBigUint64(16 + 8, true) + save.getBigUint64(376, true))
  );
  run.setU32(32, 1);
  return 0;
}
function udInterception(vcpu) {
  if (vcpu.guestStateProtected) return 1;
  kvmQueueException(vcpu, 6);
  return 1;
}
function acInterception(vcpu) {
  kvmQueueException(vcpu, 17, 0);
  return 1;
}
function mcInterception(_vcpu) {
  return 1;
}

// src/kvm/misc-exits.ts
const OF_VECTOR2 = 4;
function nmiInterception(_vcpu) {
  return 1;
}
function smiInterception(_vcpu) {
  return 1;
}
function pauseInterception(vcpu) {
  return kvmSkipEmulatedInstruction(vcpu);
}
function isNoncanonical(vcpu, la) {
  const bits = BigInt(kvmReadCr4(vcpu) & X86_CR4_LA57 ? 57 : 48);
  return BigInt.asUintN(64, BigInt.asIntN(Number(bits), la)) !== la;
}
function invpcidInterception(vcpu) {
  if (!guestCpuidHas(vcpu.cpuid, X86_FEATURE.INVPCID)) {
    kvmQueueException(vcpu, 6);
    return 1;
  }
  if (isNoncanonical(vcpu, vcpu.vmcb.exitInfo1)) {
    kvmInjectGp(vcpu);
    return 1;
  }
  return emulationFailure(vcpu);
}
function invlpgInterception(vcpu) {
  return kvmSkipEmulatedInstruction(vcpu);
}
function rsmInterception(vcpu) {
  kvmQueueException(vcpu, 6);
  return 1;
}
const TS_REASON_IRET = 1n << 36n;
const TS_REASON_JMP = 1n << 38n;
function taskSwitchInterception(vcpu) {
  const vmcb = vcpu.vmcb;
  const intInfo = vmcb.control.getUint32(136, true);
  const type = intInfo & SVM_EVTINJ_TYPE_MASK;
  const vector = intInfo & 255;
  const info2 = vmcb.exitInfo2;
  const gate2 = !(info2 & TS_REASON_IRET) && !(info2 & TS_REASON_JMP) && (intInfo & 2147483648) !== 0;
  if (!gate2 || type === SVM_EVTINJ_TYPE_SOFT || type === SVM_EVTINJ_TYPE_EXEPT && (vector === 4 || vector === 3)) {
    if (getU64Number(vmcb.control, 200) === 0) return emulationFailure(vcpu);
    skipEmulatedInstruction(vcpu);
  }
  return emulationFailure(vcpu);
}

// src/kvm/emulate.ts
const ALU_CMP = 7;
const ALU_TEST = 8;
const SEG_OF_PREFIX = { 38: 0, 46: 1, 54: 2, 62: 3, 100: 4, 101: 5 };
const RM16 = [
  [3, 6],
  [3, 7],
  [5, 6],
  [5, 7],
  [6, -1],
  [7, -1],
  [5, -1],
  [3, -1]
];
function effectiveAddress2(op, reg, rip) {
  let ea = op.disp;
  if (op.base === -2) ea += rip;
  else if (op.base >= 0) ea += reg(op.base);
  if (op.index >= 0) ea += reg(op.index) * BigInt(op.scale);
  return BigInt.asUintN(op.addrSize, ea);
}
const SEGMENT_PREFIXES = /* @__PURE__ */ new Set([38, 46, 54, 62, 100, 101]);
function decodeMmioInsn(bytes, mode) {
  let i = 0;
  let opsize = false;
  let adsize = false;
  let rex = 0;
  let seg = -1;
  for (; i < bytes.length && i < 15; i++) {
    const b = bytes[i];
    if (b === 102) opsize = true;
    else if (b === 103) adsize = true;
    else if (SEGMENT_PREFIXES.has(b)) seg = SEG_OF_PREFIX[b];
    else if (b !== 240) break;
  }
  if (mode === 64 && i < bytes.length && (bytes[i] & 240) === 64) rex = bytes[i++];
  if (i >= bytes.length) return void 0;
  const rexW = (rex & 8) !== 0;
  const rexR = rex & 4 ? 8 : 0;
  const opSize = rexW ? 8 : mode === 16 ? opsize ? 4 : 2 : opsize ? 2 : 4;
  const addrSize = mode === 64 ? adsize ? 32 : 64 : mode === 32 ? adsize ? 16 : 32 : adsize ? 32 : 16;
  let op = bytes[i++];
  let twoByte = false;
  if (op === 15) {
    if (i >= bytes.length) return void 0;
    twoByte = true;
    op = bytes[i++];
  }
  const reg8 = (r2) => rex === 0 && r2 >= 4 && r2 < 8 ? { reg: r2 - 4, highByte: true } : { reg: r2, highByte: false };
  if (!twoByte && op >= 160 && op <= 163) {
    const len = i + addrSize / 8;
    if (len > bytes.length) return void 0;
    const size = op & 1 ? opSize : 1;
    const moffs = BigInt.asUintN(addrSize, disp(bytes, i, addrSize / 8));
    const addr2 = { seg: seg < 0 ? 3 : seg, base: -1, index: -1, scale: 1, disp: moffs, addrSize };
    return insn(len, op >= 162, size, 0, false, void 0, size, false, addr2);
  }
  const modrm = decodeModrm(bytes, i, addrSize, rex, mode);
  if (!modrm) return void 0;
  if (modrm.mod === 3) return void 0;
  const r = modrm.reg | rexR;
  const addr = { ...modrm.addr, seg: seg >= 0 ? seg : modrm.addr.seg };
  let at = modrm.end;
  if (!twoByte) {
    switch (op) {
      case 136:
      case 138: {
        const { reg, highByte } = reg8(r);
        return insn(at, op === 136, 1, reg, highByte, void 0, 1, false, addr);
      }
      case 137:
      case 139:
        return insn(at, op === 137, opSize, r, false, void 0, opSize, false, addr);
      case 198:
      case 199: {
        if (modrm.reg !== 0) return void 0;
        const size = op === 198 ? 1 : opSize;
        const immBytes = size === 8 ? 4 : size;
        if (at + immBytes > bytes.length) return void 0;
        let imm = 0n;
        for (let k = immBytes - 1; k >= 0; k--) imm = imm << 8n | BigInt(bytes[at + k]);
        if (size === 8) imm = BigInt.asUintN(64, BigInt.asIntN(32, imm));
        at += immBytes;
        return insn(at, true, size, void 0, false, imm, size, false, addr);
      }
      case 128:
      case 129:
      case 131:
      case 246:
      case 247: {
        const test2 = op === 246 || op === 247;
        if (test2 && modrm.reg > 1) return void 0;
        const size = op === 128 || op === 246 ? 1 : opSize;
        const imm = immediate2(bytes, at, op === 131 ? 1 : size === 8 ? 4 : size, size);
        if (imm === void 0) return void 0;
        at += op === 131 ? 1 : size === 8 ? 4 : size;
        const alu = { op: test2 ? 8 : modrm.reg, toReg: false };
        return insn(at, false, size, void 0, false, imm, size, false, addr, alu);
      }
      case 132:
      case 133: {
        const size = op === 132 ? 1 : opSize;
        const { reg, highByte } = size === 1 ? reg8(r) : { reg: r, highByte: false };
        return insn(at, false, size, reg, highByte, void 0, size, false, addr, {
          op: 8,
          toReg: false
        });
      }
      default: {
        if (op > 59 || (op & 7) > 3) return void 0;
        const size = op & 1 ? opSize : 1;
        const { reg, highByte } = size === 1 ? reg8(r) : { reg: r, highByte: false };
        const alu = { op: op >> 3, toReg: (op & 2) !== 0 };
        return insn(at, false, size, reg, highByte, void 0, size, false, addr, alu);
      }
    }
  }
  switch (op) {
    case 182:
    case 190:
      return insn(at, false, 1, r, false, void 0, opSize, op === 190, addr);
    case 183:
    case 191:
      return insn(at, false, 2, r, false, void 0, opSize, op === 191, addr);
    default:
      return void 0;
  }
}
function insn(len, write, size, reg, highByte, imm, destSize, signExtend, addr, alu) {
  return { len, write, size, reg, highByte, imm, destSize, signExtend, addr, alu };
}
function immediate2(bytes, i, n2, size) {
  if (i + n2 > bytes.length) return void 0;
  return BigInt.asUintN(8 * size, disp(bytes, i, n2));
}
function disp(bytes, i, n2) {
  let v = 0n;
  for (let k = n2 - 1; k >= 0; k--) v = v << 8n | BigInt(bytes[i + k]);
  return n2 === 0 ? 0n : BigInt.asIntN(8 * n2, v);
}
function decodeModrm(bytes, i, addrSize, rex, mode) {
  if (i >= bytes.length) return void 0;
  const m = bytes[i++];
  const mod = m >> 6;
  const reg = m >> 3 & 7;
  const rm = m & 7;
  const none = { seg: 3, base: -1, index: -1, scale: 1, disp: 0n, addrSize };
  if (mod === 3) return { mod, reg, rm, end: i, addr: none };
  if (addrSize === 16) {
    const n3 = mod === 1 ? 1 : mod === 2 || mod === 0 && rm === 6 ? 2 : 0;
    if (i + n3 > bytes.length) return void 0;
    const [base2, index2] = mod === 0 && rm === 6 ? [-1, -1] : RM16[rm];
    const seg2 = base2 === 5 ? 2 : 3;
    return {
      mod,
      reg,
      rm,
      end: i + n3,
      addr: { seg: seg2, base: base2, index: index2, scale: 1, disp: disp(bytes, i, n3), addrSize }
    };
  }
  let base = rm | (rex & 1 ? 8 : 0);
  let index = -1;
  let scale = 1;
  let n2 = mod === 1 ? 1 : mod === 2 ? 4 : 0;
  if (rm === 4) {
    if (i >= bytes.length) return void 0;
    const sib = bytes[i++];
    scale = 1 << (sib >> 6);
    index = sib >> 3 & 7 | (rex & 2 ? 8 : 0);
    if (index === 4) index = -1;
    base = sib & 7 | (rex & 1 ? 8 : 0);
    if (mod === 0 && (sib & 7) === 5) {
      base = -1;
      n2 = 4;
    }
  } else if (mod === 0 && rm === 5) {
    base = mode === 64 ? -2 : -1;
    n2 = 4;
  }
  if (i + n2 > bytes.length) return void 0;
  const seg = base === 4 || base === 5 ? 2 : 3;
  return { mod, reg, rm, end: i + n2, addr: { seg, base, index, scale, disp: disp(bytes, i, n2), addrSize } };
}

// src/kvm/mmio-emulation.ts
const MASK326 = 0xffffffffn;
function leValue(src, size) {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = v << 8n | BigInt(src[i] ?? 0);
  return v;
}
function emulateMmio(vcpu, faultGpa) {
  const vmcb = vcpu.vmcb;
  const insnLen = vmcb.insnLen;
  const mode = codeSize(vmcb.save);
  const insn2 = insnLen > 0 ? decodeMmioInsn(vmcb.insnBytes.subarray(0, insnLen), mode) : void 0;
  if (!insn2) return emulationFailure(vcpu);
  const gpa = accessStart(vcpu, insn2, mode, faultGpa);
  if (gpa < 0) return emulationFailure(vcpu);
  const alu = insn2.alu;
  if (alu)
    return readAccess(
      vcpu,
      gpa,
      insn2.size,
      (data) => emulateAlu(vcpu, insn2, alu, gpa, leValue(data, insn2.size))
    );
  if (insn2.write) {
    const v = insn2.imm ?? sourceRegister(vcpu, insn2);
    return writeAccess(vcpu, gpa, leBytes(v, insn2.size), () => retire(vcpu, insn2));
  }
  return readAccess(vcpu, gpa, insn2.size, (data) => {
    writeLoadResult(vcpu, insn2, leValue(data, insn2.size));
    retire(vcpu, insn2);
    return 1;
  });
}
const ALU_OPS = [add, or, adc, sbb, and, sub, xor, cmp, test];
function emulateAlu(vcpu, insn2, alu, gpa, mem) {
  const save = vcpu.vmcb.save;
  const src = insn2.imm ?? sourceRegister(vcpu, insn2);
  const [a, b] = alu.toReg ? [src, mem] : [mem, src];
  const f = new Flags();
  const old = save.getUint32(368, true);
  writeRflags(f, old);
  ALU_OPS[alu.op](f, insn2.size, lo32(a), hi322(a), lo32(b), hi322(b));
  const result = BigInt.asUintN(8 * insn2.size, BigInt(f.resHi >>> 0) << 32n | BigInt(f.resLo >>> 0));
  const writeback = () => {
    save.setUint32(368, old & ~RFLAGS_ARITH | readRflags(f) & RFLAGS_ARITH, true);
    retire(vcpu, insn2);
  };
  const noWrite = alu.op === 7 || alu.op === 8;
  if (noWrite || alu.toReg) {
    if (!noWrite) writeLoadResult(vcpu, insn2, result);
    writeback();
    return 1;
  }
  return writeAccess(vcpu, gpa, leBytes(result, insn2.size), writeback);
}
function sourceRegister(vcpu, insn2) {
  const v = kvmRegisterReadRaw(vcpu, insn2.reg);
  return insn2.highByte ? v >> 8n : v;
}
function leBytes(v, size) {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = Number(v >> BigInt(8 * i) & 0xffn);
  return data;
}
const lo32 = (v) => Number(v & MASK326) | 0;
const hi322 = (v) => Number(v >> 32n & MASK326) | 0;
function retire(vcpu, insn2) {
  kvmRipWrite(vcpu, kvmRipRead(vcpu) + insn2.len);
}
function splitAccess(vcpu, gpa, data, write) {
  const vm = vcpu.vm;
  const size = data.length;
  const frags = [];
  const first = Math.min(size, 4096 - gpa % 4096);
  for (const [at, off, len] of [
    [gpa, 0, first],
    [gpa + first, first, size - first]
  ]) {
    if (len === 0) continue;
    const piece = data.subarray(off, off + len);
    const fault3 = write ? vm.writeGuest(at, piece) : vm.readGuest(at, piece);
    if (fault3) frags.push({ gpa: at, off, len });
  }
  return frags;
}
function readAccess(vcpu, gpa, size, done) {
  const data = new Uint8Array(size);
  const frags = splitAccess(vcpu, gpa, data, false);
  vcpu.mmioIsWrite = false;
  if (frags.length === 0) return done(data);
  return mmioExits(vcpu, frags, data, false, () => done(data));
}
function writeAccess(vcpu, gpa, data, writeback) {
  const frags = splitAccess(vcpu, gpa, data, true);
  vcpu.mmioIsWrite = true;
  writeback();
  if (frags.length === 0) return 1;
  return mmioExits(vcpu, frags, data, true, () => 1);
}
function mmioExits(vcpu, frags, data, write, last) {
  const run = vcpu.runArea;
  let cur = 0;
  const exitFor = (f) => {
    run.clearExitUnion();
    run.exitReason = 6;
    run.setU64n(32, f.gpa);
    run.setU32(48, f.len);
    run.setU8(52, write ? 1 : 0);
    if (write) run.mmioData.set(data.subarray(f.off, f.off + f.len));
    vcpu.completeUserspaceIo = complete;
    return 0;
  };
  const complete = () => {
    const f = frags[cur];
    if (!write) data.set(run.mmioData.subarray(0, f.len), f.off);
    cur++;
    return cur < frags.length ? exitFor(frags[cur]) : last();
  };
  return exitFor(frags[0]);
}
function accessStart(vcpu, insn2, mode, faultGpa) {
  const save = vcpu.vmcb.save;
  const next = BigInt(kvmRipRead(vcpu) + insn2.len);
  const ea = effectiveAddress2(insn2.addr, (r) => kvmRegisterReadRaw(vcpu, r), next);
  const seg = insn2.addr.seg;
  const base = mode !== 64 || seg >= 4 ? save.getBigUint64(0 + 16 * seg + 8, true) : 0n;
  const linear3 = BigInt.asUintN(mode === 64 ? 64 : 32, base + ea);
  const off = Number(linear3 & 0xfffn);
  if (faultGpa % 4096 === off) return faultGpa;
  const start = pageAlignDown(faultGpa) - (4096 - off);
  return start >= 0 && start + insn2.size > faultGpa ? start : -1;
}
function writeLoadResult(vcpu, insn2, raw) {
  const r = insn2.reg;
  let v = raw;
  if (insn2.signExtend) v = BigInt.asUintN(insn2.destSize * 8, BigInt.asIntN(insn2.size * 8, v));
  const old = kvmRegisterReadRaw(vcpu, r);
  if (insn2.highByte) {
    kvmRegisterWriteRaw(vcpu, r, old & ~0xff00n | (v & 0xffn) << 8n);
    return;
  }
  switch (insn2.destSize) {
    case 1:
      kvmRegisterWriteRaw(vcpu, r, old & ~0xffn | v & 0xffn);
      break;
    case 2:
      kvmRegisterWriteRaw(vcpu, r, old & ~0xffffn | v & 0xffffn);
      break;
    case 4:
      kvmRegisterWriteRaw(vcpu, r, v & MASK326);
      break;
    default:
      kvmRegisterWriteRaw(vcpu, r, v);
  }
}

// src/kvm/pmu.ts
const AMD64_NUM_COUNTERS = 4;
const AMD64_NUM_COUNTERS_CORE = 6;
const X86_FEATURE_PERFCTR_CORE = 1 << 23;
const X86_CR4_PCE = 1 << 8;
function amdPmuCounters(vcpu) {
  const ext = cpuidEntry(vcpu.cpuid, 2147483649, 0);
  return ext && ext.ecx & X86_FEATURE_PERFCTR_CORE ? 6 : 4;
}
function kvmPmuRdpmc(vcpu, ecx) {
  let idx = ecx >>> 0;
  let mask = (1n << 64n) - 1n;
  if (vcpu.vm.core.rdpmcIgnoresHighBits) {
    if (idx & 2147483648) mask = 0xffffffffn;
    idx &= 1073741823;
  }
  if (idx >= amdPmuCounters(vcpu)) return void 0;
  const pe = (kvmReadCr0(vcpu) & 1) !== 0;
  if (!(kvmReadCr4(vcpu) & X86_CR4_PCE) && kvmCpl(vcpu) !== 0 && pe) return void 0;
  return vcpu.pmcs[idx] & mask;
}
function rdpmcInterception(vcpu) {
  const r = vcpu.regs;
  const data = kvmPmuRdpmc(vcpu, gpr32(r, 1));
  if (data === void 0) {
    kvmInjectGp(vcpu);
    return 1;
  }
  setGpr32(r, 0, Number(data & 0xffffffffn));
  setGpr32(r, 2, Number(data >> 32n & 0xffffffffn));
  return kvmSkipEmulatedInstruction(vcpu);
}

// src/kvm/svm-insns.ts
function nestedSvmCheckPermissions(vcpu) {
  const save = vcpu.vmcb.save;
  if (!(save.getUint32(208, true) & EFER_SVME) || !isPaging(vcpu)) {
    kvmQueueException(vcpu, 6);
    return false;
  }
  if (save.getUint8(203)) {
    kvmInjectGp(vcpu);
    return false;
  }
  return true;
}
function nestedSvmNotModelled(vcpu) {
  return emulationFailure(vcpu);
}
function vmrunInterception(vcpu) {
  if (!nestedSvmCheckPermissions(vcpu)) return 1;
  return nestedSvmNotModelled(vcpu);
}
function vmloadVmsaveInterception(vcpu) {
  if (!nestedSvmCheckPermissions(vcpu)) return 1;
  return nestedSvmNotModelled(vcpu);
}
function gifInterception(vcpu) {
  if (!nestedSvmCheckPermissions(vcpu)) return 1;
  return kvmSkipEmulatedInstruction(vcpu);
}
function skinitInterception(vcpu) {
  kvmQueueException(vcpu, 6);
  return 1;
}
function invlpgaInterception(vcpu) {
  if (!nestedSvmCheckPermissions(vcpu)) return 1;
  return kvmSkipEmulatedInstruction(vcpu);
}

// src/kvm/xcr.ts
const XCR_XFEATURE_ENABLED_MASK = 0;
const XFEATURE_FP2 = 1n;
const XFEATURE_SSE2 = 2n;
const XFEATURE_YMM2 = 4n;
const XFEATURE_BNDREGS = 8n;
const XFEATURE_BNDCSR = 16n;
const XFEATURE_AVX512 = 0xe0n;
const XFEATURE_XTILE = 0x60000n;
function kvmSetXcr(vcpu, index, xcr) {
  if (index !== 0) return false;
  const leaf = cpuidEntry(vcpu.cpuid, 13, 0);
  const offered = leaf ? BigInt(leaf.edx) << 32n | BigInt(leaf.eax) : XFEATURE_FP2 | XFEATURE_SSE2;
  const supported = offered & vcpu.vm.ctx.supportedXcr0;
  if (!(xcr & XFEATURE_FP2)) return false;
  if (xcr & XFEATURE_YMM2 && !(xcr & XFEATURE_SSE2)) return false;
  if (xcr & ~(supported | XFEATURE_FP2)) return false;
  if (!(xcr & XFEATURE_BNDREGS) !== !(xcr & XFEATURE_BNDCSR)) return false;
  if (xcr & XFEATURE_AVX512 && (!(xcr & XFEATURE_YMM2) || (xcr & XFEATURE_AVX512) !== XFEATURE_AVX512))
    return false;
  if (xcr & XFEATURE_XTILE && (xcr & XFEATURE_XTILE) !== XFEATURE_XTILE) return false;
  vcpu.xcr0 = xcr;
  return true;
}
function kvmSetXcr0(vcpu, xcr0) {
  return kvmSetXcr(vcpu, 0, xcr0);
}
function kvmEmulateXsetbv(vcpu) {
  const r = vcpu.regs;
  const value = BigInt(gpr32(r, 2)) << 32n | BigInt(gpr32(r, 0));
  return kvmCompleteInsnGp(vcpu, kvmCpl(vcpu) !== 0 || !kvmSetXcr(vcpu, gpr32(r, 1), value));
}

// src/kvm/x86.ts
const MASK327 = 0xffffffffn;
const EFAULT = -14;
function raxBytes(vcpu, dst, size) {
  const lo = vcpu.regs[2 * 0];
  const hi = vcpu.regs[2 * 0 + 1];
  for (let i = 0; i < size; i++) dst[i] = (i < 4 ? lo >>> 8 * i : hi >>> 8 * (i - 4)) & 255;
}
function skipAsNop(vcpu) {
  return kvmSkipEmulatedInstruction(vcpu);
}
function completeFastPioIn(vcpu) {
  const run = vcpu.runArea;
  const size = run.u8(33);
  const data = run.pioPage;
  const regs = vcpu.regs;
  const v = data[0] | data[1] << 8 | data[2] << 16 | data[3] << 24;
  if (size === 4) {
    setGpr32(regs, 0, v >>> 0);
  } else {
    const mask = size === 1 ? 255 : 65535;
    regs[2 * 0] = (regs[2 * 0] & ~mask | v & mask) >>> 0;
  }
  return kvmSkipEmulatedInstruction(vcpu);
}
function kvmFastPio(vcpu, size, port, isIn) {
  const run = vcpu.runArea;
  run.exitReason = 2;
  run.setU8(32, isIn ? 0 : 1);
  run.setU8(33, size);
  run.setU16(34, port);
  run.setU32(36, 1);
  run.setU64n(40, 4096);
  if (isIn) {
    run.pioPage.fill(0, 0, size);
    vcpu.completeUserspaceIo = completeFastPioIn;
  } else {
    raxBytes(vcpu, run.pioPage, size);
    vcpu.completeUserspaceIo = skipAsNop;
  }
  return 0;
}
function ioInterception(vcpu) {
  const io2 = vcpu.vmcb.exitInfo1Lo;
  const size = (io2 & 112) >>> 4;
  const port = io2 >>> 16;
  const isIn = (io2 & 1) !== 0;
  if (io2 & SVM_IOIO_STR_MASK) {
    const stringIo2 = vcpu.typeOps.stringIo;
    return stringIo2 ? stringIo2.call(vcpu.typeOps, size, port, isIn) : emulationFailure(vcpu);
  }
  if (!vcpu.guestStateProtected) {
    const c = vcpu.vmcb.control;
    c.setUint32(200, vcpu.vmcb.exitInfo2Lo, true);
    c.setUint32(200 + 4, vcpu.vmcb.exitInfo2Hi, true);
  }
  return kvmFastPio(vcpu, size, port, isIn);
}
function npfInterception(vcpu) {
  const vmcb = vcpu.vmcb;
  const gpa = vmcb.exitInfo2Gpa;
  const write = (vmcb.exitInfo1Lo & 2) !== 0;
  const vm = vcpu.vm;
  const slot2 = vm.memslotForGpa(gpa);
  if (!slot2 || write && slot2.flags & 2) {
    const hook = vcpu.typeOps.cannotEmulate;
    if (hook) return hook.call(vcpu.typeOps, gpa, write);
    return emulateMmio(vcpu, gpa);
  }
  const gfn = Math.floor(gpa / 4096);
  if (!(vm.host.view(gfnToHva(slot2, gfn), 1, write) instanceof Uint8Array)) {
    prepareMemoryFaultExit(vcpu, gfn * 4096, 4096, 0n);
    return (-14);
  }
  return 1;
}
function haltInterception(vcpu) {
  const r = kvmSkipEmulatedInstruction(vcpu);
  const halt = vcpu.vm.irqchip?.halt;
  if (halt) return halt(vcpu) && r;
  vcpu.runArea.exitReason = 5;
  return 0;
}
function completeEmulatedMsr(vcpu, err) {
  const hook = vcpu.typeOps.completeEmulatedMsr;
  if (hook) return hook.call(vcpu.typeOps, err);
  return kvmCompleteInsnGp(vcpu, err);
}
function msrUserSpace(vcpu, index, exitReason, data, ret3) {
  const reason = kvmMsrReason(ret3);
  if (!(vcpu.vm.userSpaceMsrMask & reason)) return false;
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = exitReason;
  run.setU8(32, 0);
  run.setU32(40, reason);
  run.setU32(44, index);
  run.setU64(48, data);
  vcpu.completeUserspaceIo = () => {
    const err = run.u8(32) !== 0;
    if (!err && exitReason === 29) {
      const v = run.u64(48);
      kvmRegisterWriteRaw(vcpu, 0, v & MASK327);
      kvmRegisterWriteRaw(vcpu, 2, v >> 32n);
    }
    return completeEmulatedMsr(vcpu, err);
  };
  return true;
}
function msrInterception(vcpu) {
  const regs = vcpu.regs;
  const index = gpr32(regs, 1);
  const vm = vcpu.vm;
  const isWrite = (vcpu.vmcb.exitInfo1Lo | vcpu.vmcb.exitInfo1Hi) !== 0;
  if (!isWrite) {
    let ret4;
    let value2 = 0n;
    if (!kvmMsrAllowed(vm.msrFilter, index, KVM_MSR_FILTER_READ)) ret4 = 3;
    else {
      const r = svmGetMsr(vcpu, index);
      ret4 = r.ret;
      value2 = r.value;
    }
    if (ret4 === 0) {
      kvmRegisterWriteRaw(vcpu, 0, value2 & MASK327);
      kvmRegisterWriteRaw(vcpu, 2, value2 >> 32n);
      return completeEmulatedMsr(vcpu, false);
    }
    if (msrUserSpace(vcpu, index, 29, 0n, ret4)) return 0;
    return completeEmulatedMsr(vcpu, true);
  }
  const value = BigInt(gpr32(regs, 2)) << 32n | BigInt(gpr32(regs, 0));
  const ret3 = !kvmMsrAllowed(vm.msrFilter, index, KVM_MSR_FILTER_WRITE) ? 3 : svmSetMsr(vcpu, index, value);
  if (ret3 === 0) return completeEmulatedMsr(vcpu, false);
  if (msrUserSpace(vcpu, index, 30, value, ret3)) return 0;
  return completeEmulatedMsr(vcpu, true);
}
function cpuidInterception(vcpu) {
  const r = vcpu.regs;
  const e = kvmCpuid(vcpu, gpr32(r, 0), gpr32(r, 1));
  setGpr32(r, 0, e.eax);
  setGpr32(r, 3, e.ebx);
  setGpr32(r, 1, e.ecx);
  setGpr32(r, 2, e.edx);
  return kvmSkipEmulatedInstruction(vcpu);
}
function invalidOp(vcpu) {
  kvmQueueException(vcpu, 6);
  return 1;
}
function iretInterception(vcpu) {
  vcpu.awaitingIretCompletion = true;
  if (!vcpu.guestStateProtected) {
    vcpu.vmcb.setIntercept(116, false);
    vcpu.nmiIretRip = kvmRipRead(vcpu);
  }
  return 1;
}
function intrInterception(_vcpu) {
  return 1;
}
function interruptWindowInterception(vcpu) {
  disableIrqWindow(vcpu);
  return 1;
}
function shutdownInterception(vcpu) {
  vcpu.runArea.exitReason = 8;
  return 0;
}
function range(first, count, h) {
  return Array.from({ length: count }, (_, i) => [first + i, h]);
}
const svmExitHandlers = new Map([
  [0, crInterception],
  [3, crInterception],
  [4, crInterception],
  [8, crInterception],
  [101, crInterception],
  [16, crInterception],
  [19, crInterception],
  [20, crInterception],
  [24, cr8WriteInterception],
  ...range(32, 8, drInterception),
  ...range(48, 8, drInterception),
  [64 + 1, dbInterception],
  [64 + 6, udInterception],
  [64 + 18, mcInterception],
  [64 + 17, acInterception],
  [96, intrInterception],
  [97, nmiInterception],
  [98, smiInterception],
  [100, interruptWindowInterception],
  [111, rdpmcInterception],
  [114, cpuidInterception],
  [116, iretInterception],
  [118, skipAsNop],
  [119, pauseInterception],
  [120, haltInterception],
  [121, invlpgInterception],
  [122, invlpgaInterception],
  [123, ioInterception],
  [124, msrInterception],
  [125, taskSwitchInterception],
  [127, shutdownInterception],
  [128, vmrunInterception],
  // vmmcall_interception is kvm_emulate_hypercall (hypercall.ts).
  [129, kvmEmulateHypercall],
  [130, vmloadVmsaveInterception],
  [131, vmloadVmsaveInterception],
  [132, gifInterception],
  [133, gifInterception],
  [134, skinitInterception],
  [135, invalidOp],
  [137, skipAsNop],
  [138, skipAsNop],
  [139, skipAsNop],
  [141, kvmEmulateXsetbv],
  [142, invalidOp],
  [162, invpcidInterception],
  [166, haltInterception],
  [1024, npfInterception],
  [115, rsmInterception]
]);

// src/kvm/vcpu.ts
const EXCEPTIONS_NOT_FAULTS = 1 << 1 | 1 << 3 | 1 << 4 | 1 << 8 | 1 << 18;
const HANDLER_TABLE_SIZE = 1040;
const HOST_TICK_INSTRUCTIONS = 1 << 16;
const DEFAULT_MAX_VMEXITS_PER_RUN = 1e7;
const EINTR = -4;
const EIO = -5;
const EAGAIN = -11;
const Vcpu = class {
  constructor(vm, id, backend) {
    this.vm = vm;
    this.id = id;
    this.backend = backend;
    this.cpuid = vm.ctx.supportedCpuid;
    this.runArea = new KvmRun(new Uint8Array(new SharedArrayBuffer(KVM_VCPU_MMAP_SIZE)));
    this.npt = new NestedPageTable(vm.spaces[0], vm.host);
    writeResetState(this.vmcb.save);
    const bsp = id === 0;
    this.msrs.set(
      27,
      (this.msrs.get(27) ?? 0n) | (bsp ? MSR_IA32_APICBASE_BSP : 0n)
    );
    this.mpState = vm.irqchip && !bsp ? 1 : 0;
    this.guestStateProtected = backend.protectedState;
    initVmcb(this);
    if (this.guestStateProtected) this.regs[2 * 16] = getU64Number(this.vmcb.save, 376);
    const prot = backend.protectedState;
    backend.attach({
      vmcb: this.vmcb,
      regs: prot ? null : this.regs,
      db: prot ? null : this.db,
      fpu: prot ? null : this.fpu,
      xcr0: prot ? null : this.xcrs,
      mem: this.npt
    });
    this.typeOps = vm.typeOps.createVcpu(this);
    const extra = this.typeOps.exitHandlers;
    this.#table = new Array(1040).fill(void 0);
    for (const [code, h] of [...svmExitHandlers, ...extra ?? []]) {
      if (!(code >= 0 && code < 1040)) throw new RangeError(`no room for exit code ${code}`);
      this.#table[code] = h;
    }
  }
  vm;
  id;
  backend;
  /** The kvm_run page (and the PIO and coalesced-MMIO pages after it): shared memory, as mmap'ed. */
  runArea;
  /** vcpu->arch.regs. For an unprotected guest the CPU works on this array in place. */
  regs = newGprs();
  /** The VMCB shared with the CPU (svm->vmcb). */
  vmcb = new Vmcb();
  /** vcpu->arch.complete_userspace_io, run at the start of the next KVM_RUN. */
  completeUserspaceIo;
  /** In-kernel MSR values (those not kept in the VMCB's save area). */
  msrs = new MsrStore();
  /** KVM_SET_CPUID2 table (KVM_GET_SUPPORTED_CPUID's until the VMM sets one). */
  cpuid;
  /** The nested page table the CPU uses, and its last host fault. */
  npt;
  /** The VM type's per-vCPU hooks. */
  typeOps;
  /** #VMEXITs allowed per KVM_RUN before it returns EINTR, as if the VMM's watchdog signalled. */
  maxVmexitsPerRun = 10000000;
  /** Every #VMEXIT handled, for statistics and benchmarks. */
  vmexits = 0;
  /** The guest's CPL as KVM knows it (from the save area; from the GHCB for SEV-ES). */
  cpl = 0;
  /**
   * vcpu->arch.xcr0 (the GHCB's XCR0 for SEV-ES), kept in `xcrs`: KVM loads it into the CPU's XCR0
   * before VMRUN (CpuAttachment.xcr0). XFEATURE_MASK_FP at RESET (kvm_vcpu_reset).
   */
  xcrs = BigUint64Array.of(1n);
  get xcr0() {
    return this.xcrs[0];
  }
  set xcr0(v) {
    this.xcrs[0] = v;
  }
  /** vcpu->arch.ia32_xss. */
  xss = 0n;
  /** vcpu->arch.cr4 of a protected guest, as its CR4 write traps reported it (unprotected: the save area). */
  cr4 = 0;
  /** vcpu->mmio_is_write, set only by the instruction emulator's MMIO path. */
  mmioIsWrite = false;
  /** vcpu->arch.exception: an exception to inject at the next entry. */
  exception;
  /** vcpu->arch.interrupt: an external interrupt to inject (KVM_INTERRUPT), by vector. */
  interrupt;
  /** vcpu->arch.nmi_pending / nmi_injected. */
  nmiPending = 0;
  nmiMasked = false;
  /** svm->awaiting_iret_completion and nmi_iret_rip: the NMI handler's IRET was intercepted at that RIP. */
  awaitingIretCompletion = false;
  nmiIretRip = 0;
  /** vcpu->arch.mp_state (KVM_MP_STATE_*). */
  mpState = 0;
  /** vcpu->arch.guest_state_protected: the VMSA is encrypted; KVM can read no register. */
  guestStateProtected;
  /** The vPMU's general-purpose counters (never programmed in the model: they read 0). */
  pmcs = new BigUint64Array(6);
  /** KVM_CAP_ENFORCE_PV_FEATURE_CPUID: PV hypercalls and MSRs only as the guest's KVM CPUID leaf offers. */
  enforcePvFeatureCpuid = false;
  /** vcpu->arch.pv.pv_unhalted: a KVM_HC_KICK_CPU arrived; a halted vCPU wakes. */
  pvUnhalted = false;
  /**
   * vcpu->arch.guest_fpu as KVM_GET/SET_FPU see it, which the CPU uses in place (CpuAttachment.fpu):
   * changed in place only, never replaced.
   */
  fpu = resetFpu();
  /** The vCPU has entered the guest once (kvm_vcpu_has_run): KVM_SET_CPUID2 must then change nothing. */
  hasRun = false;
  /** vcpu->arch.apic: the in-kernel local APIC (KVM_CREATE_IRQCHIP's, set as the vCPU joins it). */
  lapic;
  /** vcpu->arch.db: DR0-DR3, which the CPU uses in place (CpuAttachment.db). */
  db = new BigUint64Array(4);
  /** vcpu->arch.dr6 (the VMCB's DR6 is the CPU's; DR7 is kept in the save area). */
  dr6 = DR6_ACTIVE_LOW;
  /**
   * vcpu->guest_debug: KVM_SET_GUEST_DEBUG's control word. The model has no such ioctl, so this is 0
   * unless a test sets it: the guest owns its debug registers and #DB.
   */
  guestDebug = 0;
  /** vcpu->arch.switch_db_regs & KVM_DEBUGREG_WONT_EXIT: DR accesses run without exits until the next #VMEXIT. */
  dbRegsWontExit = false;
  /** svm_exit_handlers with the VM type's additions, indexed by exit code. */
  #table;
  #destroyed = false;
  /** True once the vCPU or its VM is gone: every ioctl fails (EBADF / EIO). */
  get destroyed() {
    return this.#destroyed;
  }
  /**
   * KVM_RUN: 0 when kvm_run holds an exit to userspace, -errno on failure (kvm_run keeps what KVM
   * wrote, e.g. KVM_EXIT_MEMORY_FAULT beside -EFAULT).
   */
  run() {
    const r = this.#run();
    const trace = this.vm.trace;
    if (trace)
      trace({
        name: "kvm_userspace_exit",
        vcpu: this.id,
        reason: this.runArea.exitReason,
        errno: r < 0 ? -r : 0
      });
    return r;
  }
  #run() {
    if (this.#destroyed || this.vm.dead) return (-5);
    const run = this.runArea;
    run.flags = 0;
    if (this.mpState === 1) return this.#runUninitialized();
    const cui = this.completeUserspaceIo;
    if (cui) {
      this.completeUserspaceIo = void 0;
      const r = cui(this);
      if (r <= 0) return r;
    }
    if (run.immediateExit) return (-4);
    const preRun = this.vm.typeOps.vcpuPreRun?.(this) ?? 1;
    if (preRun <= 0) return preRun;
    if (this.vm.core.presetExitReasonUnknown) run.exitReason = 0;
    const irqchip = this.vm.irqchip;
    const backend = this.backend;
    const typeOps = this.typeOps;
    const vmcb = this.vmcb;
    const requestIrqWindow = !irqchip && run.requestInterruptWindow !== 0;
    for (let n2 = 0; ; n2++) {
      if (n2 >= this.maxVmexitsPerRun) return this.#signalled();
      if (irqchip) {
        irqchip.acceptApicEvents(this, this.#deliverSipi);
        if (this.mpState !== 0 && !this.#vcpuBlock(irqchip)) return this.#blocked();
      }
      this.#injectPendingEvent();
      if (requestIrqWindow && this.interrupt === void 0) enableIrqWindow(this);
      typeOps.prepareSwitchToGuest?.();
      syncLapicToCr8(this);
      svmLoadDebugRegs(this);
      this.hasRun = true;
      backend.vmrun(HOST_TICK_INSTRUCTIONS);
      vmcb.tlbCtl = 0;
      this.vmexits++;
      if (this.dbRegsWontExit) svmSyncDirtyDebugRegs(this);
      if (this.awaitingIretCompletion) this.#completeIret();
      const code = vmcb.exitCode;
      const r = this.invokeExitHandler(code);
      if (r <= 0) return r;
      if (requestIrqWindow && this.interrupt === void 0 && interruptAllowed(this)) {
        run.exitReason = 7;
        return 0;
      }
      if (code === 96 && run.immediateExit) return this.#signalled();
    }
  }
  /**
   * The vCPU waits in kvm_vcpu_block for an event only another vCPU or the VMM can raise. A real
   * KVM_RUN sleeps there until then (or until a signal); the model has no other thread to wait for,
   * so it returns as a signal would end the wait: EINTR with KVM_EXIT_INTR. The next KVM_RUN waits
   * again, or runs if the event came.
   */
  #blocked() {
    return this.#signalled();
  }
  /**
   * vcpu_block for a vCPU that is not running (halted, in AP reset hold, waiting for a SIPI): true
   * when an event lets it run now, false when it would sleep.
   */
  #vcpuBlock(irqchip) {
    if (!irqchip.hasEvents(this)) return false;
    irqchip.acceptApicEvents(this, this.#deliverSipi);
    if (this.mpState === 3 || this.mpState === 9) {
      this.pvUnhalted = false;
      this.mpState = 0;
    }
    return this.mpState === 0;
  }
  /** kvm_apic_accept_events, for the ioctls that take pending INIT and SIPI first (KVM_GET_MP_STATE). */
  acceptApicEvents() {
    this.vm.irqchip?.acceptApicEvents(this, this.#deliverSipi);
  }
  /** KVM_RUN of a vCPU in UNINITIALIZED: block for an event, accept it, then -EAGAIN (run again). */
  #runUninitialized() {
    const irqchip = this.vm.irqchip;
    if (!irqchip?.hasEvents(this)) return this.#blocked();
    irqchip.acceptApicEvents(this, this.#deliverSipi);
    return (-11);
  }
  #deliverSipi = (vector) => {
    const hook = this.typeOps.deliverSipi;
    if (hook) hook.call(this.typeOps, vector);
    else kvmDeliverSipiVector(this, vector);
  };
  /** kvm_handle_signal_exit: KVM_RUN fails with EINTR and kvm_run says KVM_EXIT_INTR. */
  #signalled() {
    this.runArea.exitReason = 10;
    return (-4);
  }
  /**
   * inject_pending_event, as far as the model has events: a queued exception first, then an NMI,
   * then an external interrupt the guest can take now (else the interrupt window is requested).
   */
  #injectPendingEvent() {
    const vmcb = this.vmcb;
    if (vmcb.eventInj & 2147483648) return;
    const e = this.exception;
    if (e) {
      this.exception = void 0;
      if (!this.guestStateProtected && !(1 << e.vector & EXCEPTIONS_NOT_FAULTS)) {
        const save = vmcb.save;
        save.setUint32(368, save.getUint32(368, true) | X86_EFLAGS_RF, true);
      }
      vmcb.eventInjErr = e.errorCode ?? 0;
      vmcb.eventInj = 2147483648 | SVM_EVTINJ_TYPE_EXEPT | e.vector | (e.errorCode !== void 0 ? SVM_EVTINJ_VALID_ERR : 0);
      return;
    }
    if (this.nmiPending > 0 && !this.nmiMasked) {
      this.nmiPending--;
      this.nmiMasked = true;
      vmcb.eventInj = 2147483648 | SVM_EVTINJ_TYPE_NMI | 2;
      if (!this.guestStateProtected) vmcb.setIntercept(116, true);
      return;
    }
    const lapic = this.lapic;
    if (lapic) {
      const vector = lapic.pendingVector();
      if (vector >= 0) {
        if (interruptAllowed(this)) {
          lapic.ack(vector);
          vmcb.eventInj = 2147483648 | SVM_EVTINJ_TYPE_INTR | vector;
          disableIrqWindow(this);
        } else {
          enableIrqWindow(this);
        }
      }
      return;
    }
    const irq = this.interrupt;
    if (irq !== void 0) {
      if (interruptAllowed(this)) {
        this.interrupt = void 0;
        vmcb.eventInj = 2147483648 | SVM_EVTINJ_TYPE_INTR | irq;
        disableIrqWindow(this);
      } else {
        enableIrqWindow(this);
      }
    }
  }
  /** svm_complete_interrupts: once RIP has moved past the intercepted IRET, NMIs are unmasked. */
  #completeIret() {
    if (this.guestStateProtected || kvmRipRead(this) !== this.nmiIretRip) {
      this.awaitingIretCompletion = false;
      this.nmiMasked = false;
    }
  }
  /** svm_invoke_exit_handler: the run loop's dispatch, and VM types' for codes of their own. */
  invokeExitHandler(exitCode) {
    const handler = exitCode < 1040 ? this.#table[exitCode] : void 0;
    return handler ? handler(this) : unexpectedExit(this);
  }
  /** Close the vCPU: the VM type frees what it holds for it. */
  destroy() {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.typeOps.destroy?.();
  }
};

// src/kvm/vm.ts
const GuestPageCache = class {
  #vm;
  #map;
  #slotGen = -1;
  #hostGen = -1;
  constructor(vm) {
    this.#vm = vm;
  }
  /** The mapping of `gfn` (see Vm.mapGuestPage), cached; undefined when it cannot be mapped. */
  map(gfn) {
    const vm = this.#vm;
    const slotGen = vm.spaces[0].generation;
    const hostGen = vm.host.generation;
    const m = this.#map;
    if (m !== void 0 && m.gfn === gfn && slotGen === this.#slotGen && hostGen === this.#hostGen) return m;
    const fresh = vm.mapGuestPage(gfn);
    this.#map = fresh;
    this.#slotGen = slotGen;
    this.#hostGen = hostGen;
    return fresh;
  }
};
const Vm = class {
  /** The VM type, as passed to KVM_CREATE_VM. */
  type;
  host;
  allocator;
  core;
  /** Memslots, one set per address space (x86: 0 = normal, 1 = SMM when supported). */
  spaces;
  /** The VM type's hooks (src/sev for SEV-ES). */
  typeOps;
  /** KVM_CAP_X86_USER_SPACE_MSR: which KVM_MSR_EXIT_REASON_* go to userspace (0 = none). */
  userSpaceMsrMask = 0;
  /** KVM_X86_SET_MSR_FILTER, if set. */
  msrFilter;
  /** KVM_CAP_EXIT_HYPERCALL: bitmask of hypercall numbers that exit to userspace. */
  exitHypercalls = 0;
  /** KVM_CREATE_IRQCHIP's in-kernel PIC, IOAPIC and local APICs, if created. */
  irqchip;
  /** Set when the VM is destroyed or the host kernel crashed handling it; ioctls fail with EIO. */
  dead = false;
  /** Host MAXPHYADDR. */
  maxPhysBits;
  ctx;
  #vcpus = /* @__PURE__ */ new Map();
  #destroyed = false;
  /** users_count: the VM fd's reference and one per vCPU fd. */
  #users = 1;
  constructor(type, ctx, typeOps) {
    this.type = type;
    this.ctx = ctx;
    this.host = ctx.host;
    this.allocator = ctx.allocator;
    this.spaces = Array.from({ length: ctx.addressSpaces }, () => new MemslotSet());
    this.typeOps = typeOps;
    this.core = ctx.core;
    this.maxPhysBits = ctx.maxPhysBits;
  }
  /** Where this VM's trace events go right now (undefined: tracing off). */
  get trace() {
    return this.ctx.tracer.sink;
  }
  /** kvm_set_memory_region for KVM_SET_USER_MEMORY_REGION (`legacy`) or ..._REGION2. */
  setMemoryRegion(region, legacy) {
    const r = setMemoryRegion(
      {
        spaces: this.spaces,
        allocator: this.allocator,
        maxGfn: this.ctx.maxGfn,
        userAddrLimit: this.ctx.userAddrLimit,
        readonlyMem: !this.typeOps.protectedState || this.core.readonlyMemForProtectedVms,
        guestMemfd: this.core.guestMemfd && !this.typeOps.protectedState,
        fds: this.ctx.fds,
        owner: this
      },
      region,
      legacy
    );
    if (!r.ok)
      return new Errno(r.errno, `KVM_SET_USER_MEMORY_REGION${legacy ? "" : "2"} slot ${region.slot}`);
    return r.change;
  }
  /** The memslot containing a GPA (gfn_to_memslot), if any. */
  memslotForGpa(gpa, asId = 0) {
    return this.spaces[asId]?.lookup(Math.floor(gpa / 4096));
  }
  /**
   * kvm_vcpu_map: map one guest page writable for direct kernel access (the GHCB). Undefined when
   * the gfn has no slot, the slot is read-only, or the host page cannot be faulted in.
   */
  mapGuestPage(gfn) {
    const slot2 = this.spaces[0].lookup(gfn);
    if (!slot2 || slot2.flags & 2) return void 0;
    const v = this.host.view(gfnToHva(slot2, gfn), 4096, true);
    return v instanceof Uint8Array ? { gfn, slot: slot2, page: v } : void 0;
  }
  /** kvm_vcpu_unmap(dirty = true): the page was written through the mapping. */
  unmapGuestPage(map) {
    markPageDirtyInSlot(map.slot, map.gfn);
  }
  /** kvm_read_guest: EFAULT (as a value) for a GPA without a slot or with a host fault. */
  readGuest(gpa, dst) {
    return kvmReadGuest(this.spaces[0], this.host, gpa, dst);
  }
  /** kvm_write_guest: also EFAULT for a read-only slot; marks pages dirty. */
  writeGuest(gpa, src) {
    const trace = this.trace;
    if (trace) trace({ name: "sevbox_kvm_write_guest", vcpu: -1, gpa, len: src.length });
    return kvmWriteGuest(this.spaces[0], this.host, gpa, src);
  }
  /**
   * KVM_GET_DIRTY_LOG: the slot's dirty bitmap (bit n = page n, u64 words, little-endian), then
   * cleared, as KVM does without manual dirty-log protection. ENOENT when the slot does not log.
   */
  getDirtyLog(slot2) {
    const s = this.#dirtySlot(slot2);
    if (s instanceof Errno) return s;
    const half = dirtyBitmapBytes(s.npages);
    const bitmap = s.dirtyBitmap.bytes;
    const out = bitmap.slice(0, half);
    bitmap.fill(0, 0, half);
    this.spaces[slotAsId(slot2 >>> 0)].slotChanged();
    return out;
  }
  /**
   * KVM_CLEAR_DIRTY_LOG: clear the bits set in `mask` for pages [firstPage, firstPage + numPages).
   * firstPage must be a multiple of 64 and the range inside the slot, else EINVAL.
   */
  clearDirtyLog(slot2, firstPage, numPages, mask) {
    const bad = this.#checkSlotId(slot2);
    if (bad) return bad;
    if (firstPage % 64 !== 0)
      return new Errno("EINVAL", "KVM_CLEAR_DIRTY_LOG first_page not a multiple of 64");
    const s = this.#dirtySlot(slot2);
    if (s instanceof Errno) return s;
    const rest = s.npages - firstPage;
    if (firstPage > s.npages || numPages < 0 || numPages > rest || numPages < rest && numPages % 64 !== 0) {
      return new Errno("EINVAL", "KVM_CLEAR_DIRTY_LOG range");
    }
    if (mask.length * 8 < numPages) return new Errno("EFAULT", "KVM_CLEAR_DIRTY_LOG bitmap too short");
    const bitmap = s.dirtyBitmap.bytes;
    for (let i = 0; i < numPages; i++) {
      if (mask[i >>> 3] & 1 << (i & 7)) {
        const p2 = firstPage + i;
        bitmap[p2 >>> 3] &= ~(1 << (p2 & 7));
      }
    }
    this.spaces[slotAsId(slot2 >>> 0)].slotChanged();
    return void 0;
  }
  #checkSlotId(slot2) {
    if (slotAsId(slot2 >>> 0) >= this.spaces.length || slotId(slot2) >= 32764) {
      return new Errno("EINVAL", `slot ${slot2}`);
    }
    return void 0;
  }
  #dirtySlot(slot2) {
    const bad = this.#checkSlotId(slot2);
    if (bad) return bad;
    const s = this.spaces[slotAsId(slot2 >>> 0)].get(slotId(slot2));
    if (!s?.dirtyBitmap) return new Errno("ENOENT", `slot ${slot2} does not log dirty pages`);
    return s;
  }
  /**
   * kvm_vm_ioctl_create_vcpu with the CPU the hardware gives it: EINVAL for an id beyond the limit,
   * EEXIST for a duplicate (found after the vCPU was built, as in Linux, then destroyed again).
   */
  createVcpu(id, backend) {
    if (!Number.isInteger(id) || id < 0 || id >= this.ctx.maxVcpuId)
      return new Errno("EINVAL", `vcpu id ${id}`);
    if (this.#vcpus.has(id)) return new Errno("EEXIST", `vcpu ${id} exists`);
    if (backend.protectedState !== (this.typeOps.sevEs ?? false)) {
      return new Errno("EINVAL", "CPU backend protection does not match the VM type");
    }
    const vcpu = new Vcpu(this, id, backend);
    this.#vcpus.set(id, vcpu);
    this.irqchip?.addVcpu(vcpu);
    return vcpu;
  }
  /** The vCPUs, by id. */
  get vcpus() {
    return this.#vcpus;
  }
  /** kvm_get_kvm: a vCPU fd holds the VM as its VM fd does. */
  get() {
    this.#users++;
  }
  /** kvm_put_kvm: the VM is destroyed with its last reference (VM fd and vCPU fds alike). */
  put() {
    if (--this.#users === 0) this.destroy();
  }
  /** kvm_destroy_vm: vCPUs are freed, and so are dirty bitmaps and anything the VM type holds. */
  destroy() {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const vcpu of this.#vcpus.values()) vcpu.destroy();
    this.typeOps.destroy?.();
    for (const space of this.spaces) {
      for (const slot2 of [...space.slots()]) {
        if (slot2.dirtyBitmap) this.allocator.free(slot2.dirtyBitmap);
        slot2.dirtyBitmap = void 0;
        space.remove(slot2);
      }
    }
    this.dead = true;
  }
};

// src/kvm/kvm.ts
const KVM_MAX_VCPU_IDS = 4096;
const KVM_MAX_VCPUS = 1024;
const defaultVmOps = { protectedState: false, createVcpu: () => ({}) };
const KVM_SYNC_X86_VALID_FIELDS = 7;
const Kvm = class {
  host;
  allocator;
  maxPhysBits;
  core;
  cpus;
  memEncOp;
  /** kvm_caps.supported_xcr0: the host's XCR0 & KVM_SUPPORTED_XCR0. */
  supportedXcr0;
  /** The state components the host CPU has (its CPUID 0xD sub-leaves): hostXcr0 if given, else all. */
  hostXstate;
  /** What KVM_GET_SUPPORTED_CPUID reports (and a new vCPU's table until KVM_SET_CPUID2). */
  supportedCpuid;
  /** The VMM process's file descriptors (guest_memfd files). */
  fds = new FdTable();
  /** The trace sink, shared with every VM of this Kvm (see trace). */
  #tracer = { sink: void 0 };
  #types = /* @__PURE__ */ new Map();
  constructor(opts = {}) {
    this.host = opts.host ?? new HostAddressSpace();
    this.allocator = opts.allocator ?? new HostAllocator();
    this.maxPhysBits = opts.maxPhysBits ?? 48;
    this.core = opts.core ?? KVM_CORE_CURRENT;
    this.cpus = opts.cpus ?? ((_id, protectedState) => new HaltedCpu(protectedState));
    this.memEncOp = opts.memEncOp;
    this.supportedXcr0 = (opts.hostXcr0 ?? DEFAULT_HOST_XCR0) & KVM_SUPPORTED_XCR0;
    this.hostXstate = opts.hostXcr0 ?? HOST_XSTATE_ALL;
    this.supportedCpuid = supportedCpuid(this.supportedXcr0);
    this.#tracer.sink = opts.trace;
    this.#types.set(0, { type: 0, init: () => defaultVmOps });
    for (const t of opts.vmTypes ?? []) this.#types.set(t.type, t);
  }
  /** Trace sink of every VM of this Kvm; may be set or cleared at any time. */
  get trace() {
    return this.#tracer.sink;
  }
  set trace(sink) {
    this.#tracer.sink = sink;
  }
  /** Memslot address spaces of a VM (kvm_arch_nr_memslot_as_ids): 2 with SMM, else 1. */
  addressSpaces() {
    return this.core.smm ? 2 : 1;
  }
  /**
   * KVM_CHECK_EXTENSION on the system fd (`vm` undefined) or a VM fd (answers for that VM): 0 for
   * anything sevbox does not model.
   */
  checkExtension(cap, vm) {
    const core = this.core;
    switch (cap) {
      case 0:
      case 1:
      case 3:
      case 4:
      case 14:
      case 16:
      case 22:
      case 26:
      case 37:
      case 41:
      case 56:
      case 61:
      case 98:
      case 136:
      case 153:
      case 188:
      case 189:
      case 231:
        return 1;
      case 81:
        return vm?.typeOps.protectedState && !core.readonlyMemForProtectedVms ? 0 : 1;
      case 74:
        return vm?.typeOps.protectedState && core.protectedStateIoctlsEinval ? 0 : 7;
      // sevbox extensions (not Linux): enabled per SEV-ES VM with KVM_ENABLE_CAP.
      case 1588592641:
      case 1588592642:
        return 1;
      case 232:
        return core.memoryFaultInfo ? 1 : 0;
      case 234:
        return core.guestMemfd ? 1 : 0;
      case 10:
        return 32764;
      case 9:
      case 66:
        return 1024;
      case 128:
        return 4096;
      case 118: {
        const n2 = this.addressSpaces();
        return n2 > 1 ? n2 : 0;
      }
      case 201:
        return 1 << 12;
      case 235: {
        if (!core.vmTypes) return 0;
        let mask = 0;
        for (const t of this.#types.keys()) mask |= 1 << t;
        return mask;
      }
      case 117:
        return core.smm && !vm?.typeOps.protectedState ? 1 : 0;
      default:
        return 0;
    }
  }
  /** KVM_CREATE_VM: EINVAL for a VM type this KVM does not support. */
  createVm(type = 0) {
    const provider = this.#types.get(type);
    if (!provider || type !== 0 && !this.core.vmTypes) {
      return new Errno("EINVAL", `VM type ${type} not supported`);
    }
    const vm = new Vm(
      type,
      {
        host: this.host,
        allocator: this.allocator,
        maxPhysBits: this.maxPhysBits,
        maxGfn: this.core.maxGfnCheck ? 2 ** (this.maxPhysBits - 12) - 1 : Number.MAX_SAFE_INTEGER,
        userAddrLimit: 140737488351232,
        addressSpaces: this.addressSpaces(),
        maxVcpuId: 4096,
        core: this.core,
        supportedXcr0: this.supportedXcr0,
        hostXstate: this.hostXstate,
        supportedCpuid: this.supportedCpuid,
        tracer: this.#tracer,
        fds: this.fds
      },
      defaultVmOps
    );
    const ops = provider.init(vm);
    if (ops instanceof Errno) return ops;
    vm.typeOps = ops;
    return vm;
  }
};
const HaltedCpu = class {
  constructor(protectedState) {
    this.protectedState = protectedState;
  }
  protectedState;
  #vmcb;
  attach(hw) {
    this.#vmcb = hw.vmcb;
  }
  vmrun() {
    this.#vmcb.setExit(127, 0, 0, 0, 0);
  }
};

// src/kvm/oops.ts
const KernelOops = class extends KvmError {
  constructor(oops) {
    super("EIO", `host kernel oops: ${oops}`);
    this.oops = oops;
    this.name = "KernelOops";
  }
  oops;
};

// src/uapi/vcpu-events.ts
const KVM_VCPUEVENT_VALID_NMI_PENDING = 1;
const KVM_VCPUEVENT_VALID_SIPI_VECTOR = 2;
const KVM_VCPUEVENT_VALID_SHADOW = 4;
const KVM_VCPUEVENT_VALID_SMM = 8;
const KVM_VCPUEVENT_VALID_PAYLOAD = 16;
const KVM_VCPUEVENT_VALID_TRIPLE_FAULT = 32;

// src/kvm/vcpu-state.ts
const GPR_FIELDS = [
  ["rax", 0],
  ["rbx", 3],
  ["rcx", 1],
  ["rdx", 2],
  ["rsi", 6],
  ["rdi", 7],
  ["rsp", 4],
  ["rbp", 5],
  ...Array.from({ length: 8 }, (_, i) => [`r${8 + i}`, 8 + i])
];
function vcpuStateProtected(vcpu) {
  return vcpu.guestStateProtected && vcpu.vm.typeOps.protectedState && vcpu.vm.core.protectedStateIoctlsEinval;
}
function protectedEinval(vcpu, what) {
  if (vcpuStateProtected(vcpu)) return new Errno("EINVAL", `${what}: the vCPU's state is protected`);
  return void 0;
}
function getRegs(vcpu) {
  const bad = protectedEinval(vcpu, "KVM_GET_REGS");
  if (bad) return bad;
  const save = vcpu.vmcb.save;
  const out = {
    // kvm_rip_read: the save area's, or for protected state KVM's cached copy (0 after a VMGEXIT).
    rip: vcpu.guestStateProtected ? kvmRegisterReadRaw(vcpu, 16) : save.getBigUint64(376, true),
    rflags: save.getBigUint64(368, true)
  };
  for (const [f, r] of GPR_FIELDS) out[f] = kvmRegisterReadRaw(vcpu, r);
  return out;
}
function setRegs(vcpu, regs) {
  const bad = protectedEinval(vcpu, "KVM_SET_REGS");
  if (bad) return bad;
  for (const [f, r] of GPR_FIELDS) kvmRegisterWriteRaw(vcpu, r, regs[f]);
  const save = vcpu.vmcb.save;
  if (vcpu.guestStateProtected) kvmRegisterWriteRaw(vcpu, 16, regs.rip);
  save.setBigUint64(376, BigInt.asUintN(64, regs.rip), true);
  save.setBigUint64(368, BigInt.asUintN(64, regs.rflags) | 2n, true);
  vcpu.exception = void 0;
  return void 0;
}
const SEGMENTS = [
  ["cs", 16],
  ["ds", 48],
  ["es", 0],
  ["fs", 64],
  ["gs", 80],
  ["ss", 32],
  ["tr", 144],
  ["ldt", 112]
];
function getSegment(save, off, which, cpl) {
  const s = saveSegment(save, off);
  const a = s.attrib;
  const seg = {
    base: s.base,
    limit: s.limit,
    selector: s.selector,
    type: a & 15,
    s: a & SVM_SELECTOR_S_MASK ? 1 : 0,
    dpl: a >> 5 & 3,
    present: a & SVM_SELECTOR_P_MASK ? 1 : 0,
    avl: a & SVM_SELECTOR_AVL_MASK ? 1 : 0,
    l: a & SVM_SELECTOR_L_MASK ? 1 : 0,
    db: a & SVM_SELECTOR_DB_MASK ? 1 : 0,
    g: a & SVM_SELECTOR_G_MASK ? 1 : 0,
    unusable: a & SVM_SELECTOR_P_MASK ? 0 : 1
  };
  if (which === "tr") seg.type |= 2;
  if (which === "ss") {
    if (seg.unusable) seg.db = 0;
    seg.dpl = cpl;
  }
  return seg;
}
function setSegment2(save, off, seg) {
  const attrib = seg.unusable ? 0 : seg.type & 15 | (seg.s ? SVM_SELECTOR_S_MASK : 0) | (seg.dpl & 3) << 5 | (seg.present ? SVM_SELECTOR_P_MASK : 0) | (seg.avl ? SVM_SELECTOR_AVL_MASK : 0) | (seg.l ? SVM_SELECTOR_L_MASK : 0) | (seg.db ? SVM_SELECTOR_DB_MASK : 0) | (seg.g ? SVM_SELECTOR_G_MASK : 0);
  setSaveSegment(save, off, { selector: seg.selector, attrib, limit: seg.limit, base: seg.base });
}
function getDtable(save, off) {
  const s = saveSegment(save, off);
  return { base: s.base, limit: s.limit & 65535 };
}
const zeroSegment = () => ({
  base: 0n,
  limit: 0,
  selector: 0,
  type: 0,
  present: 0,
  dpl: 0,
  db: 0,
  s: 0,
  l: 0,
  g: 0,
  avl: 0,
  unusable: 0
});
function getSregs(vcpu) {
  const bad = protectedEinval(vcpu, "KVM_GET_SREGS");
  if (bad) return bad;
  const save = vcpu.vmcb.save;
  const hidden = vcpu.guestStateProtected;
  const cpl = save.getUint8(203);
  const out = {};
  for (const [f, off] of SEGMENTS) out[f] = hidden ? zeroSegment() : getSegment(save, off, f, cpl);
  out.gdt = hidden ? { base: 0n, limit: 0 } : getDtable(save, 96);
  out.idt = hidden ? { base: 0n, limit: 0 } : getDtable(save, 128);
  out.cr0 = save.getBigUint64(344, true);
  out.cr2 = hidden ? 0n : save.getBigUint64(576, true);
  out.cr3 = hidden ? 0n : save.getBigUint64(336, true);
  out.cr4 = hidden ? BigInt(vcpu.cr4) : save.getBigUint64(328, true);
  out.cr8 = BigInt(kvmGetCr8(vcpu));
  out.efer = save.getBigUint64(208, true);
  out.apicBase = vcpu.msrs.get(27) ?? 0n;
  const bitmap = [0n, 0n, 0n, 0n];
  if (!hidden && vcpu.interrupt !== void 0)
    bitmap[vcpu.interrupt >> 6] |= 1n << BigInt(vcpu.interrupt & 63);
  out.interruptBitmap = bitmap;
  return out;
}
function validSregs(vcpu, s) {
  const lme = (s.efer & BigInt(EFER_LME)) !== 0n;
  const lma = (s.efer & BigInt(EFER_LMA)) !== 0n;
  const pg = (s.cr0 & BigInt(2147483648)) !== 0n;
  if (lme && pg) {
    if (!(s.cr4 & BigInt(CR4_PAE)) || !lma) return false;
    if (s.cr3 >> BigInt(vcpu.vm.maxPhysBits) !== 0n) return false;
  } else if (lma || s.cs.l) {
    return false;
  }
  if (vcpu.vm.core.protectedStateIoctlsEinval) {
    if (s.cr0 >> 32n || s.cr0 & 1n << 29n && !(s.cr0 & 1n << 30n) || pg && !(s.cr0 & BigInt(1)))
      return false;
  }
  return true;
}
function setSregs(vcpu, s) {
  const bad = protectedEinval(vcpu, "KVM_SET_SREGS");
  if (bad) return bad;
  if (!validSregs(vcpu, s)) return new Errno("EINVAL", "KVM_SET_SREGS: inconsistent CR0/CR4/EFER/CS.L");
  if (s.apicBase & 0x2ffn || s.apicBase >> BigInt(vcpu.vm.maxPhysBits) !== 0n)
    return new Errno("EINVAL", "KVM_SET_SREGS: apic_base");
  if (vcpu.guestStateProtected) return void 0;
  const save = vcpu.vmcb.save;
  for (const [f, off] of SEGMENTS) setSegment2(save, off, s[f]);
  setSaveSegment(save, 96, { selector: 0, attrib: 0, limit: s.gdt.limit, base: s.gdt.base });
  setSaveSegment(save, 128, { selector: 0, attrib: 0, limit: s.idt.limit, base: s.idt.base });
  save.setBigUint64(576, s.cr2, true);
  save.setBigUint64(336, s.cr3, true);
  save.setBigUint64(208, s.efer, true);
  svmSetCr0(vcpu, s.cr0);
  save.setBigUint64(328, s.cr4, true);
  save.setUint8(203, s.ss.dpl & 3);
  vcpu.vmcb.tlbCtl = 3;
  kvmSetCr8(vcpu, s.cr8);
  vcpu.msrs.set(27, s.apicBase);
  for (let v = 0; v < 256; v++) {
    if ((s.interruptBitmap[v >> 6] ?? 0n) & 1n << BigInt(v & 63)) {
      vcpu.interrupt = v;
      break;
    }
  }
  return void 0;
}
function fpuConfidential(vcpu) {
  return vcpu.guestStateProtected;
}
function getFpu(vcpu) {
  if (fpuConfidential(vcpu)) {
    const bad = protectedEinval(vcpu, "KVM_GET_FPU");
    if (bad) return bad;
    return { ...resetFpu(), fcw: 0, mxcsr: 0 };
  }
  const f = vcpu.fpu;
  return { ...f, fpr: f.fpr.slice(), xmm: f.xmm.slice() };
}
function setFpu(vcpu, fpu) {
  if (fpuConfidential(vcpu)) return protectedEinval(vcpu, "KVM_SET_FPU");
  const f = vcpu.fpu;
  f.fpr.set(fpu.fpr.subarray(0, f.fpr.length));
  f.xmm.set(fpu.xmm.subarray(0, f.xmm.length));
  f.fcw = fpu.fcw;
  f.fsw = fpu.fsw;
  f.ftwx = fpu.ftwx;
  f.lastOpcode = fpu.lastOpcode;
  f.lastIp = fpu.lastIp;
  f.lastDp = fpu.lastDp;
  f.mxcsr = fpu.mxcsr;
  return void 0;
}
function getXcrs(vcpu) {
  const bad = protectedEinval(vcpu, "KVM_GET_XCRS");
  if (bad) return bad;
  return { nrXcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: vcpu.xcr0 }] };
}
function setXcrs(vcpu, x) {
  const bad = protectedEinval(vcpu, "KVM_SET_XCRS");
  if (bad) return bad;
  if (x.nrXcrs > 16 || x.flags) return new Errno("EINVAL", "KVM_SET_XCRS");
  for (const e of x.xcrs.slice(0, x.nrXcrs)) {
    if (e.xcr === 0 && !kvmSetXcr0(vcpu, e.value)) return new Errno("EINVAL", "KVM_SET_XCRS: XCR0");
  }
  return void 0;
}
function getVcpuEvents(vcpu) {
  const e = vcpu.exception;
  return {
    exception: {
      injected: e ? 1 : 0,
      nr: e?.vector ?? 0,
      hasErrorCode: e?.errorCode !== void 0 ? 1 : 0,
      pending: 0,
      errorCode: e?.errorCode ?? 0
    },
    interrupt: {
      injected: vcpu.interrupt !== void 0 ? 1 : 0,
      nr: vcpu.interrupt ?? 0,
      soft: 0,
      shadow: vcpu.vmcb.intState & 1 ? 1 : 0
    },
    nmi: { injected: 0, pending: vcpu.nmiPending, masked: vcpu.nmiMasked ? 1 : 0 },
    sipiVector: 0,
    flags: 1 | 4 | 8,
    smi: { smm: 0, pending: 0, smmInsideNmi: 0, latchedInit: 0 },
    tripleFault: { pending: 0 },
    exceptionHasPayload: 0,
    exceptionPayload: 0n
  };
}
const EVENT_FLAGS = 1 | 2 | 4 | 8 | 16 | 32;
function setVcpuEvents(vcpu, ev) {
  if (ev.flags & ~EVENT_FLAGS) return new Errno("EINVAL", "KVM_SET_VCPU_EVENTS: flags");
  if (ev.flags & 16)
    return new Errno("EINVAL", "KVM_SET_VCPU_EVENTS: exception payload");
  const ex = ev.exception;
  if (ex.injected && (ex.nr > 31 || ex.nr === 2))
    return new Errno("EINVAL", "KVM_SET_VCPU_EVENTS: exception vector");
  vcpu.exception = ex.injected ? { vector: ex.nr, errorCode: ex.hasErrorCode ? ex.errorCode : void 0 } : void 0;
  vcpu.interrupt = ev.interrupt.injected ? ev.interrupt.nr : void 0;
  if (ev.flags & 4) {
    const shadow = ev.interrupt.shadow ? 1 : 0;
    vcpu.vmcb.intState = vcpu.vmcb.intState & ~1 | shadow;
  }
  if (ev.flags & 1) vcpu.nmiPending = Math.min(ev.nmi.pending, 2);
  vcpu.nmiMasked = ev.nmi.masked !== 0;
  if (!vcpu.guestStateProtected) vcpu.vmcb.setIntercept(116, vcpu.nmiMasked);
  const lapic = vcpu.vm.irqchip?.lapic(vcpu);
  if (lapic && ev.flags & 2) lapic.sipiVector = ev.sipiVector;
  if (ev.flags & 32)
    return new Errno("EINVAL", "KVM_SET_VCPU_EVENTS: triple fault event not enabled");
  return void 0;
}

// src/kvm/fd.ts
const KVM_MAX_CPUID_ENTRIES = 256;
const MAX_IO_MSRS = 256;
const KVM_MSR_EXIT_REASON_VALID_MASK = KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_FILTER;
const MODEL_TSC_KHZ = 25e5;
const FEATURE_MSRS = [139, 266, 3221295145];
const ebadf = (what) => new Errno("EBADF", `${what} on a closed fd`);
function openKvm(opts = {}) {
  return new ModelKvmFd(new Kvm(opts));
}
const ModelKvmFd = class {
  constructor(kvm) {
    this.kvm = kvm;
  }
  kvm;
  #closed = false;
  getApiVersion() {
    return 12;
  }
  checkExtension(cap) {
    return this.kvm.checkExtension(cap);
  }
  getVcpuMmapSize() {
    return this.#closed ? ebadf("KVM_GET_VCPU_MMAP_SIZE") : KVM_VCPU_MMAP_SIZE;
  }
  createVm(type = 0) {
    if (this.#closed) return ebadf("KVM_CREATE_VM");
    const vm = this.kvm.createVm(type);
    return vm instanceof Errno ? vm : new ModelVmFd(this.kvm, vm);
  }
  /** KVM_GET_SUPPORTED_CPUID: E2BIG for room below 1 or below what there is (nent not written back). */
  getSupportedCpuid(maxEntries) {
    if (this.#closed) return ebadf("KVM_GET_SUPPORTED_CPUID");
    if (maxEntries < 1) return new Errno("E2BIG", "KVM_GET_SUPPORTED_CPUID: nent < 1");
    const room = Math.min(maxEntries, 256);
    const table = this.kvm.supportedCpuid;
    if (table.length > room) return new Errno("E2BIG", "KVM_GET_SUPPORTED_CPUID: too many entries");
    return table.map((e) => ({ ...e }));
  }
  getMsrIndexList() {
    return this.#closed ? ebadf("KVM_GET_MSR_INDEX_LIST") : [...KVM_MSR_INDEX_LIST];
  }
  getMsrFeatureIndexList() {
    return this.#closed ? ebadf("KVM_GET_MSR_FEATURE_INDEX_LIST") : [...FEATURE_MSRS];
  }
  close() {
    this.#closed = true;
  }
};
const ModelVmFd = class {
  constructor(kvm, vm) {
    this.kvm = kvm;
    this.vm = vm;
  }
  kvm;
  vm;
  #closed = false;
  #check(what) {
    if (this.#closed) return ebadf(what);
    if (this.vm.dead) return new Errno("EIO", `${what}: the VM is dead`);
    return void 0;
  }
  checkExtension(cap) {
    return this.kvm.checkExtension(cap, this.vm);
  }
  setUserMemoryRegion(region) {
    return this.#setRegion(region, true);
  }
  setUserMemoryRegion2(region) {
    return this.#setRegion(region, false);
  }
  #setRegion(region, legacy) {
    const bad = this.#check("KVM_SET_USER_MEMORY_REGION");
    if (bad) return bad;
    const r = this.vm.setMemoryRegion(region, legacy);
    return r instanceof Errno ? r : void 0;
  }
  getDirtyLog(slot2) {
    return this.#check("KVM_GET_DIRTY_LOG") ?? this.vm.getDirtyLog(slot2);
  }
  clearDirtyLog(log) {
    return this.#check("KVM_CLEAR_DIRTY_LOG") ?? this.vm.clearDirtyLog(log.slot, log.firstPage, log.numPages, log.bitmap);
  }
  /**
   * KVM_ENABLE_CAP (kvm_vm_ioctl_enable_cap): flags must be 0; KVM_CAP_X86_USER_SPACE_MSR takes the
   * exit reasons (unknown bits EINVAL since 6.0), KVM_CAP_EXIT_HYPERCALL the hypercall mask (only
   * MAP_GPA_RANGE), KVM_CAP_MEMORY_FAULT_INFO is report-only (EINVAL); the VM type knows the rest.
   */
  enableCap(cap) {
    const bad = this.#check("KVM_ENABLE_CAP");
    if (bad) return bad;
    if (cap.flags) return new Errno("EINVAL", "KVM_ENABLE_CAP: flags");
    const vm = this.vm;
    const arg0 = cap.args[0] ?? 0n;
    switch (cap.cap) {
      case 188:
        if (vm.core.msrExitFlagChecks && arg0 & ~BigInt(KVM_MSR_EXIT_REASON_VALID_MASK))
          return new Errno("EINVAL", "KVM_CAP_X86_USER_SPACE_MSR: unknown exit reasons");
        vm.userSpaceMsrMask = Number(arg0 & 0xffffffffn);
        return void 0;
      case 201:
        if (arg0 & ~(1n << BigInt(12)))
          return new Errno("EINVAL", "KVM_CAP_EXIT_HYPERCALL: only KVM_HC_MAP_GPA_RANGE");
        vm.exitHypercalls = Number(arg0);
        return void 0;
      case 232:
        return new Errno("EINVAL", "KVM_CAP_MEMORY_FAULT_INFO is reported, not enabled");
      default: {
        const enable = vm.typeOps.enableCap;
        if (!enable)
          return new Errno("EINVAL", `KVM_ENABLE_CAP: capability ${cap.cap} not supported by this VM`);
        return enable.call(vm.typeOps, cap.cap, cap.args);
      }
    }
  }
  /**
   * KVM_X86_SET_MSR_FILTER (kvm_vm_ioctl_set_msr_filter): unknown flags (6.0+), an all-empty
   * default-deny filter, a used range with no or unknown access flags or a bitmap over 0x600 bytes
   * are EINVAL; a short bitmap EFAULT. Unused ranges (nmsrs 0) are skipped.
   */
  setMsrFilter(filter) {
    const bad = this.#check("KVM_X86_SET_MSR_FILTER");
    if (bad) return bad;
    const vm = this.vm;
    if (filter.ranges.length > 16)
      return new Errno("E2BIG", `KVM_X86_SET_MSR_FILTER: more than ${16} ranges`);
    if (vm.core.msrExitFlagChecks && filter.flags & ~KVM_MSR_FILTER_VALID_MASK)
      return new Errno("EINVAL", "KVM_X86_SET_MSR_FILTER: flags");
    const used = filter.ranges.filter((r) => r.nmsrs !== 0);
    const deny = (filter.flags & KVM_MSR_FILTER_DEFAULT_DENY) !== 0;
    if (used.length === 0 && deny) return new Errno("EINVAL", "KVM_X86_SET_MSR_FILTER: deny everything");
    for (const r of used) {
      if (r.flags & ~KVM_MSR_FILTER_RANGE_VALID_MASK || r.flags === 0)
        return new Errno("EINVAL", "KVM_X86_SET_MSR_FILTER: range flags");
      const bytes = Math.ceil(r.nmsrs / 64) * 8;
      if (bytes > 1536)
        return new Errno("EINVAL", "KVM_X86_SET_MSR_FILTER: bitmap size");
      if (r.bitmap.length < bytes) return new Errno("EFAULT", "KVM_X86_SET_MSR_FILTER: bitmap");
    }
    vm.msrFilter = {
      defaultAllow: !deny,
      ranges: used.map((r) => ({
        flags: r.flags,
        base: r.base >>> 0,
        nmsrs: r.nmsrs,
        bitmap: r.bitmap.slice()
      }))
    };
    for (const vcpu of vm.vcpus.values()) svmRecalcMsrIntercepts(vcpu);
    return void 0;
  }
  createGuestMemfd(size, flags = 0n) {
    const bad = this.#check("KVM_CREATE_GUEST_MEMFD");
    if (bad) return bad;
    const vm = this.vm;
    if (!vm.core.guestMemfd || vm.typeOps.protectedState || flags !== 0n)
      return new Errno("EINVAL", "KVM_CREATE_GUEST_MEMFD not supported");
    const f = vm.ctx.fds.createGuestMemfd(vm, size > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(size));
    return typeof f === "string" ? new Errno(f, `KVM_CREATE_GUEST_MEMFD size ${size}`) : f.fd;
  }
  createVcpu(id) {
    const bad = this.#check("KVM_CREATE_VCPU");
    if (bad) return bad;
    const vm = this.vm;
    if (!Number.isInteger(id) || id < 0 || id >= vm.ctx.maxVcpuId)
      return new Errno("EINVAL", `vcpu id ${id}`);
    if (vm.vcpus.has(id)) return new Errno("EEXIST", `vcpu ${id} exists`);
    const vcpu = vm.createVcpu(id, this.kvm.cpus(id, vm.typeOps.sevEs ?? false));
    if (vcpu instanceof Errno) return vcpu;
    vm.get();
    return new ModelVcpuFd(vcpu);
  }
  /** KVM_SET_TSS_ADDR: above 0xfffff000 - 2 pages is EINVAL; SVM has no use for it. */
  setTssAddress(addr) {
    const bad = this.#check("KVM_SET_TSS_ADDR");
    if (bad) return bad;
    if (addr < 0 || addr > 4294955008) return new Errno("EINVAL", "KVM_SET_TSS_ADDR");
    return void 0;
  }
  /** KVM_SET_IDENTITY_MAP_ADDR: EINVAL once a vCPU exists; SVM ignores the address. */
  setIdentityMapAddress(_addr) {
    const bad = this.#check("KVM_SET_IDENTITY_MAP_ADDR");
    if (bad) return bad;
    if (this.vm.vcpus.size > 0) return new Errno("EINVAL", "KVM_SET_IDENTITY_MAP_ADDR after KVM_CREATE_VCPU");
    return void 0;
  }
  /** KVM_CREATE_IRQCHIP: EEXIST for a second one, EINVAL once a vCPU exists. */
  createIrqchip() {
    const bad = this.#check("KVM_CREATE_IRQCHIP");
    if (bad) return bad;
    const vm = this.vm;
    if (vm.irqchip) return new Errno("EEXIST", "KVM_CREATE_IRQCHIP: already created");
    if (vm.vcpus.size > 0) return new Errno("EINVAL", "KVM_CREATE_IRQCHIP after KVM_CREATE_VCPU");
    vm.irqchip = new Irqchip();
    return void 0;
  }
  /** KVM_IRQ_LINE: ENXIO without an in-kernel irqchip. */
  irqLine(irq, level) {
    const bad = this.#check("KVM_IRQ_LINE");
    if (bad) return bad;
    const chip = this.vm.irqchip;
    if (!chip) return new Errno("ENXIO", "KVM_IRQ_LINE without an in-kernel irqchip");
    chip.irqLine(irq, level);
    return void 0;
  }
  getIrqchip(chipId) {
    const bad = this.#check("KVM_GET_IRQCHIP");
    if (bad) return bad;
    const chip = this.vm.irqchip;
    if (!chip) return new Errno("ENXIO", "KVM_GET_IRQCHIP without an in-kernel irqchip");
    return chip.getChip(chipId);
  }
  setIrqchip(c) {
    const bad = this.#check("KVM_SET_IRQCHIP");
    if (bad) return bad;
    const chip = this.vm.irqchip;
    if (!chip) return new Errno("ENXIO", "KVM_SET_IRQCHIP without an in-kernel irqchip");
    if (c.chipId > 2) return new Errno("EINVAL", `irqchip ${c.chipId}`);
    return chip.setChip(c);
  }
  /** KVM_MEMORY_ENCRYPT_OP: the VM type's (or, for a default VM, the platform's) sev_mem_enc_ioctl; else ENOTTY. */
  memoryEncryptOp(cmd) {
    const bad = this.#check("KVM_MEMORY_ENCRYPT_OP");
    if (bad) return bad;
    const vm = this.vm;
    const op = vm.typeOps.memEncOp;
    if (op) return op.call(vm.typeOps, cmd);
    if (this.kvm.memEncOp) return this.kvm.memEncOp(vm, cmd);
    return new Errno("ENOTTY", "KVM_MEMORY_ENCRYPT_OP: memory encryption is not supported");
  }
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.vm.put();
  }
};
const ModelVcpuFd = class {
  constructor(vcpu) {
    this.vcpu = vcpu;
    this.id = vcpu.id;
    this.runArea = vcpu.runArea;
  }
  vcpu;
  id;
  runArea;
  #closed = false;
  #check(what) {
    if (this.#closed) return ebadf(what);
    if (this.vcpu.vm.dead) return new Errno("EIO", `${what}: the VM is dead`);
    return void 0;
  }
  run() {
    let r;
    let oops;
    try {
      r = this.runRaw();
    } catch (e) {
      if (!(e instanceof KernelOops)) throw e;
      r = -5;
      oops = e.oops;
    }
    const run = this.runArea;
    if (r >= 0) return decodeExit(run);
    const error = Errno.fromNegative(r, `KVM_RUN on vcpu ${this.id}`);
    return oops === void 0 ? { kind: "Failed", error, left: decodeExit(run) } : { kind: "Failed", error, left: decodeExit(run), oops };
  }
  runRaw() {
    if (this.#closed) return -9;
    const vcpu = this.vcpu;
    const r = vcpu.run();
    postKvmRunSave(vcpu);
    return r;
  }
  getRegs() {
    return this.#check("KVM_GET_REGS") ?? getRegs(this.vcpu);
  }
  setRegs(regs) {
    return this.#check("KVM_SET_REGS") ?? setRegs(this.vcpu, regs);
  }
  getSregs() {
    return this.#check("KVM_GET_SREGS") ?? getSregs(this.vcpu);
  }
  setSregs(sregs) {
    return this.#check("KVM_SET_SREGS") ?? setSregs(this.vcpu, sregs);
  }
  /** KVM_GET_MSRS: E2BIG from 256 entries; the entries processed until the first KVM cannot read. */
  getMsrs(indices) {
    const bad = this.#check("KVM_GET_MSRS");
    if (bad) return bad;
    if (indices.length >= 256) return new Errno("E2BIG", "KVM_GET_MSRS: too many entries");
    const out = [];
    for (const index of indices) {
      if (vcpuStateProtected(this.vcpu)) break;
      const r = svmGetMsr(this.vcpu, index >>> 0);
      if (r.ret !== 0) break;
      out.push({ index, data: r.value });
    }
    return out;
  }
  /** KVM_SET_MSRS: E2BIG from 256 entries; how many were written before the first KVM refused. */
  setMsrs(entries) {
    const bad = this.#check("KVM_SET_MSRS");
    if (bad) return bad;
    if (entries.length >= 256) return new Errno("E2BIG", "KVM_SET_MSRS: too many entries");
    let n2 = 0;
    for (const e of entries) {
      if (vcpuStateProtected(this.vcpu) || svmSetMsr(this.vcpu, e.index >>> 0, e.data, true) !== 0)
        break;
      n2++;
    }
    return n2;
  }
  /**
   * KVM_SET_CPUID2: E2BIG above 256 entries; after the vCPU ran, only the table it has (runtime
   * bits applied to both) is accepted, else EINVAL.
   */
  setCpuid2(entries) {
    const bad = this.#check("KVM_SET_CPUID2");
    if (bad) return bad;
    if (entries.length > 256) return new Errno("E2BIG", "KVM_SET_CPUID2: too many entries");
    const vcpu = this.vcpu;
    const next = entries.map((e) => ({ ...e }));
    if (vcpu.hasRun) {
      const cur = vcpu.cpuid;
      const same = cur.length === next.length && cur.every((c, i) => {
        const n2 = next[i];
        if (c.function !== n2.function || c.index !== n2.index || c.flags !== n2.flags) return false;
        const a = kvmCpuid(vcpu, c.function, c.index);
        const saved = vcpu.cpuid;
        vcpu.cpuid = next;
        const b = kvmCpuid(vcpu, n2.function, n2.index);
        vcpu.cpuid = saved;
        return a.eax === b.eax && a.ebx === b.ebx && a.ecx === b.ecx && a.edx === b.edx;
      });
      if (!same) return new Errno("EINVAL", "KVM_SET_CPUID2 after KVM_RUN must not change CPUID");
      vcpu.cpuid = next;
      return void 0;
    }
    vcpu.cpuid = next;
    svmRecalcIntercepts(vcpu);
    return void 0;
  }
  /** KVM_GET_CPUID2: the table with its runtime bits; E2BIG when it does not fit. */
  getCpuid2(maxEntries) {
    const bad = this.#check("KVM_GET_CPUID2");
    if (bad) return bad;
    const vcpu = this.vcpu;
    if (maxEntries < vcpu.cpuid.length)
      return new Errno("E2BIG", "KVM_GET_CPUID2: table larger than the buffer");
    return vcpu.cpuid.map((e) => ({
      ...kvmCpuid(vcpu, e.function, e.index),
      flags: e.flags,
      index: e.index
    }));
  }
  getFpu() {
    return this.#check("KVM_GET_FPU") ?? getFpu(this.vcpu);
  }
  setFpu(fpu) {
    return this.#check("KVM_SET_FPU") ?? setFpu(this.vcpu, fpu);
  }
  getXcrs() {
    return this.#check("KVM_GET_XCRS") ?? getXcrs(this.vcpu);
  }
  setXcrs(xcrs) {
    return this.#check("KVM_SET_XCRS") ?? setXcrs(this.vcpu, xcrs);
  }
  getVcpuEvents() {
    return this.#check("KVM_GET_VCPU_EVENTS") ?? getVcpuEvents(this.vcpu);
  }
  setVcpuEvents(events) {
    return this.#check("KVM_SET_VCPU_EVENTS") ?? setVcpuEvents(this.vcpu, events);
  }
  /** KVM_GET_MP_STATE: pending INIT/SIPI are taken first; a kicked (pv_unhalted) waiting vCPU reads RUNNABLE. */
  getMpState() {
    const bad = this.#check("KVM_GET_MP_STATE");
    if (bad) return bad;
    const vcpu = this.vcpu;
    vcpu.acceptApicEvents();
    const waiting = vcpu.mpState === 3 || vcpu.mpState === 9;
    return waiting && vcpu.pvUnhalted ? 0 : vcpu.mpState;
  }
  /**
   * KVM_SET_MP_STATE: without an in-kernel APIC only RUNNABLE; SIPI_RECEIVED becomes INIT_RECEIVED
   * with a SIPI pending (the next KVM_RUN delivers it, as kvm_apic_accept_events does).
   */
  setMpState(mpState) {
    const bad = this.#check("KVM_SET_MP_STATE");
    if (bad) return bad;
    const vcpu = this.vcpu;
    const chip = vcpu.vm.irqchip;
    if (!X86_MP_STATES.has(mpState)) return new Errno("EINVAL", `KVM_SET_MP_STATE ${mpState}`);
    if (!chip && mpState !== 0)
      return new Errno("EINVAL", "KVM_SET_MP_STATE: only RUNNABLE without an in-kernel APIC");
    if (chip && mpState === 4) {
      const l = chip.lapic(vcpu);
      vcpu.mpState = 2;
      l.sipiPending = true;
      return void 0;
    }
    vcpu.mpState = mpState;
    return void 0;
  }
  /** KVM_INTERRUPT: EINVAL for a vector above 255, ENXIO with an in-kernel irqchip. */
  interrupt(irq) {
    const bad = this.#check("KVM_INTERRUPT");
    if (bad) return bad;
    if (!Number.isInteger(irq) || irq < 0 || irq >= 256) return new Errno("EINVAL", `KVM_INTERRUPT ${irq}`);
    const vcpu = this.vcpu;
    if (vcpu.vm.irqchip) return new Errno("ENXIO", "KVM_INTERRUPT with an in-kernel irqchip");
    vcpu.interrupt = irq;
    return void 0;
  }
  nmi() {
    const bad = this.#check("KVM_NMI");
    if (bad) return bad;
    const vcpu = this.vcpu;
    vcpu.nmiPending = Math.min(vcpu.nmiPending + 1, 2);
    return void 0;
  }
  /** KVM_GET_LAPIC: EINVAL without an in-kernel local APIC. */
  getLapic() {
    const bad = this.#check("KVM_GET_LAPIC");
    if (bad) return bad;
    const chip = this.vcpu.vm.irqchip;
    if (!chip) return new Errno("EINVAL", "KVM_GET_LAPIC without an in-kernel local APIC");
    return { regs: chip.lapic(this.vcpu).regs.slice() };
  }
  setLapic(s) {
    const bad = this.#check("KVM_SET_LAPIC");
    if (bad) return bad;
    const chip = this.vcpu.vm.irqchip;
    if (!chip) return new Errno("EINVAL", "KVM_SET_LAPIC without an in-kernel local APIC");
    if (s.regs.length < 1024) return new Errno("EFAULT", "KVM_SET_LAPIC: short state");
    chip.lapic(this.vcpu).regs.set(s.regs.subarray(0, 1024));
    return void 0;
  }
  /**
   * KVM_ENABLE_CAP on the vCPU (kvm_vcpu_ioctl_enable_cap): flags must be 0;
   * KVM_CAP_ENFORCE_PV_FEATURE_CPUID (args[0] on or off); the Hyper-V ones are not modelled (EINVAL).
   */
  enableCap(cap) {
    const bad = this.#check("KVM_ENABLE_CAP");
    if (bad) return bad;
    if (cap.flags) return new Errno("EINVAL", "KVM_ENABLE_CAP: flags");
    if (cap.cap === 190) {
      this.vcpu.enforcePvFeatureCpuid = (cap.args[0] ?? 0n) !== 0n;
      return void 0;
    }
    return new Errno("EINVAL", `KVM_ENABLE_CAP: vCPU capability ${cap.cap} not supported`);
  }
  getTscKhz() {
    return this.#check("KVM_GET_TSC_KHZ") ?? 2500000;
  }
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.vcpu.vm.put();
  }
};
const X86_MP_STATES = /* @__PURE__ */ new Set([
  0,
  1,
  2,
  3,
  4,
  9
]);
function postKvmRunSave(vcpu) {
  const run = vcpu.runArea;
  run.setU8(13, svmGetIfFlag(vcpu) ? 1 : 0);
  run.setU64n(16, kvmGetCr8(vcpu));
  run.setU64(24, vcpu.msrs.get(27) ?? 0n);
  const ready = vcpu.vm.irqchip !== void 0 || interruptAllowed(vcpu) && vcpu.interrupt === void 0 && !vcpu.exception;
  run.setU8(12, ready ? 1 : 0);
}

// src/uapi/sev-cmd.ts
const KVM_SEV_INIT = 0;
const KVM_SEV_ES_INIT = 1;
const KVM_SEV_INIT2 = 22;
const KVM_SEV_NR_MAX = 103;
const KVM_SEV_INIT_SIZE = 48;
const KVM_SEV_INIT_OFFSETS = {
  vmsa_features: 0,
  flags: 8,
  ghcb_version: 12,
  pad1: 14,
  pad2: 16
};
function encodeSevInit(value, dst) {
  const O = KVM_SEV_INIT_OFFSETS;
  const { bytes, w } = structOut(dst, 48, "kvm_sev_init");
  w.u64(O.vmsa_features, "vmsa_features", value.vmsaFeatures);
  w.u32(O.flags, "flags", value.flags);
  w.u16(O.ghcb_version, "ghcb_version", value.ghcbVersion);
  return bytes;
}
function decodeSevInit(bytes) {
  const O = KVM_SEV_INIT_OFFSETS;
  const r = structIn(bytes, 48, "kvm_sev_init");
  return { vmsaFeatures: r.u64(O.vmsa_features), flags: r.u32(O.flags), ghcbVersion: r.u16(O.ghcb_version) };
}

// src/sev/ghcb-access.ts
assertLittleEndianHost("the GHCB accessors need a little-endian host");
const W_BITMAP2 = 1008 >>> 2;
const bitWord = (offset) => ghcbBitmapIdx(offset) >>> 5;
const bitMask = (offset) => 1 << (ghcbBitmapIdx(offset) & 31);
const W_RAX = bitWord(504);
const M_RAX = bitMask(504);
const W_RBX = bitWord(792);
const M_RBX = bitMask(792);
const W_RCX = bitWord(776);
const M_RCX = bitMask(776);
const W_RDX = bitWord(784);
const M_RDX = bitMask(784);
const W_INFO_12 = bitWord(920);
const M_INFO_1 = bitMask(920);
const W_INFO_22 = bitWord(928);
const M_INFO_2 = bitMask(928);
const GhcbAccess = class {
  bytes;
  /** The same bytes as u32 words: word i is bytes 4i..4i+3. */
  words;
  /** `bytes`: the page or the snapshot; 4-byte aligned, a whole number of words. */
  constructor(bytes) {
    this.bytes = bytes;
    this.words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
  }
  /** The raw u64 at a save-area offset (ghcb_get_X, regardless of the valid bit). */
  get(offset) {
    const w = this.words;
    return BigInt(w[(offset >>> 2) + 1]) << 32n | BigInt(w[offset >>> 2]);
  }
  /** Bits 31:0 of the u64 at a save-area offset, as a number (no BigInt). */
  lo(offset) {
    return this.words[offset >>> 2];
  }
  /** Bits 63:32 of the u64 at a save-area offset, as a number (no BigInt). */
  hi(offset) {
    return this.words[(offset >>> 2) + 1];
  }
  /** ghcb_set_X: write the field and set its valid bit. */
  set(offset, value) {
    if (value === 0n) {
      this.setParts(offset, 0, 0);
      return;
    }
    const v = BigInt.asUintN(64, value);
    this.words[offset >>> 2] = Number(v & 0xffffffffn);
    this.words[(offset >>> 2) + 1] = Number(v >> 32n);
    const idx = offset >>> 3;
    this.bytes[1008 + (idx >>> 3)] |= 1 << (idx & 7);
  }
  /** ghcb_set_X with the value as two 32-bit halves (no BigInt). */
  setParts(offset, lo, hi) {
    this.words[offset >>> 2] = lo;
    this.words[(offset >>> 2) + 1] = hi;
    const idx = offset >>> 3;
    this.bytes[1008 + (idx >>> 3)] |= 1 << (idx & 7);
  }
  /** ghcb_set_sw_exit_info_1(0) and ghcb_set_sw_exit_info_2(0): svm_vmgexit_success with nothing to report. */
  setExitInfoZero() {
    const w = this.words;
    w[920 >>> 2] = 0;
    w[(920 >>> 2) + 1] = 0;
    w[928 >>> 2] = 0;
    w[(928 >>> 2) + 1] = 0;
    w[W_BITMAP2 + W_INFO_12] |= M_INFO_1;
    w[W_BITMAP2 + W_INFO_22] |= M_INFO_2;
  }
  /**
   * sev_es_sync_to_ghcb: ghcb_set_rax/rbx/rcx/rdx from the register array (`r`: two u32 words per
   * register), values and valid bits, in one call on every guest entry after a GHCB exit.
   */
  setGprs(r) {
    const w = this.words;
    w[504 >>> 2] = r[2 * 0];
    w[(504 >>> 2) + 1] = r[2 * 0 + 1];
    w[792 >>> 2] = r[2 * 3];
    w[(792 >>> 2) + 1] = r[2 * 3 + 1];
    w[776 >>> 2] = r[2 * 1];
    w[(776 >>> 2) + 1] = r[2 * 1 + 1];
    w[784 >>> 2] = r[2 * 2];
    w[(784 >>> 2) + 1] = r[2 * 2 + 1];
    w[W_BITMAP2 + W_RAX] |= M_RAX;
    w[W_BITMAP2 + W_RBX] |= M_RBX;
    w[W_BITMAP2 + W_RCX] |= M_RCX;
    w[W_BITMAP2 + W_RDX] |= M_RDX;
  }
  /** A u8 field (cpl). */
  getU8(offset) {
    return this.bytes[offset];
  }
  /** ghcb_usage (u32 at 0xFFC); only meaningful on the full page. */
  getU32(offset) {
    return this.words[offset >>> 2];
  }
  /** valid_bitmap as four little-endian u32 words into `dst` (bit i of the bitmap: word i >> 5). */
  readBitmap(dst) {
    const w = this.words;
    dst[0] = w[W_BITMAP2];
    dst[1] = w[W_BITMAP2 + 1];
    dst[2] = w[W_BITMAP2 + 2];
    dst[3] = w[W_BITMAP2 + 3];
  }
  /** Store valid_bitmap from four little-endian u32 words (the inverse of readBitmap). */
  writeBitmap(src) {
    const w = this.words;
    w[W_BITMAP2] = src[0];
    w[W_BITMAP2 + 1] = src[1];
    w[W_BITMAP2 + 2] = src[2];
    w[W_BITMAP2 + 3] = src[3];
  }
  /** memset(valid_bitmap, 0): what sync_from_ghcb and the prefix/seed error path do. */
  clearValidBitmap() {
    const w = this.words;
    w[W_BITMAP2] = 0;
    w[W_BITMAP2 + 1] = 0;
    w[W_BITMAP2 + 2] = 0;
    w[W_BITMAP2 + 3] = 0;
  }
};

// src/sev/init-vmcb.ts
const DEBUG_SWAP = false;
function sevInitVmcb(vcpu) {
  const vmcb = vcpu.vmcb;
  setExceptionIntercept(vmcb, 6, false);
  setExceptionIntercept(vmcb, 13, false);
  for (const bit of [
    0,
    4,
    8,
    16,
    INTERCEPT_CR4_WRITE,
    INTERCEPT_CR8_WRITE,
    101
  ])
    vmcb.setIntercept(bit, false);
  for (const bit of [143, 144, TRAP_CR4_WRITE, TRAP_CR8_WRITE])
    vmcb.setIntercept(bit, true);
  clrDrIntercepts(vmcb);
  if (!DEBUG_SWAP) {
    vmcb.setIntercept(INTERCEPT_DR7_READ, true);
    vmcb.setIntercept(INTERCEPT_DR7_WRITE, true);
  } else {
    setExceptionIntercept(vmcb, 1, false);
  }
  vmcb.setIntercept(141, false);
}
function sevEsRecalcMsrIntercepts(vcpu) {
  const cpuid = vcpu.cpuid;
  svmSetInterceptForMsr(vcpu, 3221291312, 3, false);
  svmSetInterceptForMsr(vcpu, 3221225600, 3, false);
  svmSetInterceptForMsr(vcpu, 631, 3, false);
  if (SVM_HOST.vTscAux)
    svmSetInterceptForMsr(
      vcpu,
      3221225731,
      3,
      !guestCpuidHas(cpuid, X86_FEATURE.RDTSCP) && !guestCpuidHas(cpuid, X86_FEATURE.RDPID)
    );
  svmSetInterceptForMsr(vcpu, 3221291316, 1, true);
  svmSetInterceptForMsr(vcpu, 3488, 3, !guestCpuidHas(cpuid, X86_FEATURE.XSAVES));
}

// src/sev/profiles.ts
const PREFIX = {
  name: "prefix",
  kernel: "ad5b353240c8..aa9f58415a8e^ (v5.17-rc): every scratch failure reflected to the guest",
  core: KVM_CORE_5_17,
  ghcbVersionMax: 1,
  ghcbVersionDefault: 1,
  snapshotGhcb: false,
  scratchHostFailure: "reflect",
  scratchRejectsZeroLength: false,
  scratchLenToBufferEnd: false,
  v2Restrictions: false,
  ignoreZeroLength: false,
  mmioDirectionQuirk: true,
  v2Events: false,
  snpEventsFromEs: "invalid-event",
  msrV2Requests: false,
  msrSnpRequestsTerminate: false,
  termination: "einval",
  nmiComplete: "iret",
  ghcbXcr0: "unchecked",
  ghcbXss: false,
  reinitErrno: "EBUSY"
};
const SEED = {
  ...PREFIX,
  name: "seed",
  kernel: "aa9f58415a8e (v5.17): scratch ENOMEM/EFAULT make KVM_RUN fail",
  scratchHostFailure: "exit"
};
const CURRENT = {
  name: "current",
  kernel: "mainline 2026 (GHCB v2, SNP host support, scratch-area hardening)",
  core: KVM_CORE_CURRENT,
  ghcbVersionMax: 2,
  ghcbVersionDefault: 2,
  snapshotGhcb: true,
  scratchHostFailure: "exit",
  scratchRejectsZeroLength: true,
  scratchLenToBufferEnd: true,
  v2Restrictions: true,
  ignoreZeroLength: true,
  mmioDirectionQuirk: false,
  v2Events: true,
  snpEventsFromEs: "missing-input",
  msrV2Requests: true,
  msrSnpRequestsTerminate: true,
  termination: "system-event",
  nmiComplete: "unmask",
  ghcbXcr0: "checked",
  ghcbXss: true,
  reinitErrno: "EINVAL"
};
const SEV_PROFILES = {
  prefix: PREFIX,
  seed: SEED,
  current: CURRENT
};

// src/sev/restart.ts
const PAGE2 = 4096n;
const EFAULT2 = -14;
function sevboxEnableCap(caps, cap, args) {
  if (args.some((a) => a !== 0n)) return new Errno("EINVAL", `KVM_ENABLE_CAP ${cap}: args must be 0`);
  if (cap === 1588592641) {
    caps.faultInfo = true;
    return void 0;
  }
  if (cap === 1588592642) {
    if (!caps.faultInfo)
      return new Errno("EINVAL", "KVM_CAP_SEVBOX_VMGEXIT_RESTART needs KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO");
    caps.restart = true;
    return void 0;
  }
  return new Errno("EINVAL", `KVM_ENABLE_CAP: capability ${cap} not supported by this VM`);
}
function capture(sev, kind, scratchGpa, again) {
  const v = sev.vcpu;
  const c = v.vmcb.control;
  return {
    kind,
    again,
    scratchGpa,
    regs: v.regs.slice(),
    cpl: v.cpl,
    exitFields: new Uint8Array(
      c.buffer.slice(c.byteOffset + 112, c.byteOffset + 136)
    ),
    validBits: sev.validBits.slice(),
    snapshot: sev.snapshot.bytes.slice(),
    swScratch: [sev.swScratchLo, sev.swScratchHi]
  };
}
function restore(sev, p2) {
  const v = sev.vcpu;
  v.regs.set(p2.regs);
  v.cpl = p2.cpl;
  const c = v.vmcb.control;
  new Uint8Array(c.buffer, c.byteOffset + 112, p2.exitFields.length).set(p2.exitFields);
  sev.swScratchLo = p2.swScratch[0];
  sev.swScratchHi = p2.swScratch[1];
  sev.validBits.set(p2.validBits);
  sev.snapshot.bytes.set(p2.snapshot);
}
function sevboxCause(cause) {
  switch (cause) {
    case "no-slot":
      return "no-slot";
    case "readonly":
      return "readonly";
    case "unmapped":
      return "hva-unmapped";
    case "missing":
      return "userfault-missing";
    case "beyond-eof":
      return "beyond-eof";
    case "protection":
      return "protection";
    default: {
      const never = cause;
      return String(never);
    }
  }
}
function fillMemoryFault(sev, gpa, end, cause, access) {
  const page = gpa - gpa % PAGE2;
  let size = (end - page + PAGE2 - 1n) / PAGE2 * PAGE2;
  if (size < PAGE2) size = PAGE2;
  const run = sev.vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = 39;
  run.setU64(
    32,
    sevboxMemoryFaultFlags(cause, access, { restartable: sev.vm.sevbox.restart })
  );
  run.setU64(40, page & 0xffffffffffffffffn);
  run.setU64(48, size & 0xffffffffffffffffn);
}
function arm(sev, p2) {
  sev.pendingRestart = p2;
  sev.vcpu.completeUserspaceIo = () => restartVmgexit(sev);
}
function reportScratchFault(sev, errno, scratchGpa, len, fault3, again) {
  const end = scratchGpa + BigInt(len);
  if (fault3) {
    const at = Number.isSafeInteger(fault3.gpa) ? BigInt(fault3.gpa) : scratchGpa;
    fillMemoryFault(sev, at, end, sevboxCause(fault3.cause), "scratch-in");
  } else {
    fillMemoryFault(sev, scratchGpa, end, "nomem", "scratch-alloc");
  }
  if (sev.vm.sevbox.restart) arm(sev, capture(sev, "scratch", scratchGpa, again));
  return errno;
}
function reportGhcbMapFault(sev, gfn, again) {
  if (!sev.vm.sevbox.faultInfo) return 1;
  const vm = sev.vcpu.vm;
  const slot2 = vm.memslotForGpa(gfn * 4096);
  let cause = "no-slot";
  if (slot2) {
    if (slot2.flags & 2) cause = "readonly";
    else {
      const v = vm.host.view(slot2.userspaceAddr + (gfn - slot2.baseGfn) * 4096, 4096, true);
      cause = v instanceof Uint8Array ? "hva-unmapped" : sevboxCause(v.kind);
    }
  }
  const gpa = BigInt(gfn) * PAGE2;
  fillMemoryFault(sev, gpa, gpa + PAGE2, cause, "ghcb-map");
  if (sev.vm.sevbox.restart) arm(sev, capture(sev, "ghcb-map", 0n, again));
  return (-14);
}
function restartVmgexit(sev) {
  const p2 = sev.pendingRestart;
  sev.pendingRestart = void 0;
  if (!p2) return 1;
  const vcpu = sev.vcpu;
  const trace = vcpu.vm.trace;
  if (trace) trace({ name: "sevbox_vmgexit_restart", vcpu: vcpu.id, from: p2.kind });
  if (p2.kind === "ghcb-map") return p2.again(0n);
  if (!sev.ghcb) return 1;
  restore(sev, p2);
  sev.setExitInfoZero();
  return p2.again(p2.scratchGpa);
}

// src/sev/sipi.ts
function sevVcpuDeliverSipiVector(sev, _vector) {
  if (!sev.receivedFirstSipi) {
    sev.receivedFirstSipi = true;
    return;
  }
  if (!sev.profile.snapshotGhcb) {
    sev.ghcb?.set(928, 1n);
    return;
  }
  switch (sev.apResetHoldType) {
    case "nae-event":
      if (sev.ghcb) sev.setExitInfo(0n, 1n);
      break;
    case "msr-protocol":
      sev.vcpu.vmcb.ghcbGpa = ghcbMsrApResetHoldResp(1n);
      break;
    default:
      break;
  }
}

// src/sev/scratch.ts
const ENOMEM = -12;
const EFAULT3 = -14;
const U642 = 1n << 64n;
const SHARED_BEGIN = BigInt(2048);
const SHARED_END = BigInt(2048 + 2032);
function setupScratch(sev, sync, len, gpa, again) {
  const profile = sev.profile;
  const vcpu = sev.vcpu;
  const ghcbGpa = vcpu.vmcb.ghcbGpa;
  const trace = vcpu.vm.trace;
  const invalid = () => {
    sev.badInput(3, "scratch");
    if (trace) trace({ name: "sevbox_scratch", vcpu: vcpu.id, gpa, len: Number(len), outcome: "invalid" });
    return 1;
  };
  if (profile.scratchRejectsZeroLength && len === 0n) return invalid();
  if (gpa === 0n) return invalid();
  const end = gpa + len;
  if (end >= U642) return invalid();
  if ((gpa & ~0xfffn) === ghcbGpa) {
    const off = gpa - ghcbGpa;
    if (off < SHARED_BEGIN || end - ghcbGpa > SHARED_END) return invalid();
    const start = Number(off);
    sev.ghcbSa = sev.ghcb.bytes.subarray(start, Number(SHARED_END));
    sev.ghcbSaLen = profile.scratchLenToBufferEnd ? Number(SHARED_END - off) : Number(len);
    if (profile.snapshotGhcb) {
      sev.ghcbSaSync = false;
      sev.ghcbSaFree = false;
    }
    if (trace) trace({ name: "sevbox_scratch", vcpu: vcpu.id, gpa, len: Number(len), outcome: "ghcb" });
    return 0;
  }
  if (profile.v2Restrictions && sev.vm.ghcbVersion >= 2) return invalid();
  if (len > BigInt(GHCB_SCRATCH_AREA_LIMIT)) return invalid();
  const n2 = Number(len);
  const alloc = vcpu.vm.allocator.alloc(n2, "ghcb-scratch");
  if (!alloc) {
    if (trace) trace({ name: "sevbox_scratch", vcpu: vcpu.id, gpa, len: n2, outcome: "ENOMEM" });
    if (profile.scratchHostFailure === "reflect") return invalid();
    if (sev.vm.sevbox.faultInfo) return reportScratchFault(sev, (-12), gpa, n2, void 0, again);
    return (-12);
  }
  const fault3 = gpa < GPA_NUMBER_LIMIT || n2 === 0 ? vcpu.vm.readGuest(Number(gpa), alloc.bytes) : { errno: "EFAULT", gpa: Number(gpa), cause: "no-slot", slot: void 0, hva: void 0 };
  if (fault3) {
    vcpu.vm.allocator.free(alloc);
    if (trace)
      trace({
        name: "sevbox_scratch",
        vcpu: vcpu.id,
        gpa,
        len: n2,
        outcome: "EFAULT",
        faultGpa: fault3.gpa,
        cause: fault3.cause
      });
    if (profile.scratchHostFailure === "reflect") return invalid();
    if (sev.vm.sevbox.faultInfo) return reportScratchFault(sev, (-14), gpa, n2, fault3, again);
    return (-14);
  }
  sev.ghcbSa = alloc.bytes;
  sev.ghcbSaAlloc = alloc;
  sev.ghcbSaLen = n2;
  sev.ghcbSaSync = sync;
  sev.ghcbSaFree = true;
  if (trace) trace({ name: "sevbox_scratch", vcpu: vcpu.id, gpa, len: n2, outcome: "bounce" });
  return 0;
}

// src/sev/string-io.ts
const EINVAL = -22;
const INT_MAX = 2147483647;
const PAGE_SIZE4 = 4096;
function sevEsStringIo(sev, size, port, isIn, scratchGpa) {
  const countBig = sev.exitInfo2;
  if (countBig > BigInt(2147483647)) return (-22);
  const count = Number(countBig);
  const bytes = count * size;
  if (bytes > 2147483647) return (-22);
  if (sev.profile.ignoreZeroLength && bytes === 0) return 1;
  const r = setupScratch(
    sev,
    isIn,
    BigInt(bytes),
    scratchGpa,
    (again) => sevEsStringIo(sev, size, port, isIn, again)
  );
  if (r !== 0) return r;
  if (size === 0) {
    const message = `divide error in kvm_sev_es_${isIn ? "ins" : "outs"} (string I/O size 0, port 0x${port.toString(16)})`;
    const vcpu = sev.vcpu;
    vcpu.vm.trace?.({ name: "sevbox_kernel_oops", vcpu: vcpu.id, message });
    vcpu.vm.dead = true;
    throw new KernelOops(message);
  }
  sev.pioData = sev.ghcbSa.subarray(0, bytes);
  sev.pioCount = count;
  return isIn ? sevEsIns(sev, size, port) : sevEsOuts(sev, size, port);
}
function pioExit(sev, size, port, isIn, count) {
  const run = sev.vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = 2;
  run.setU8(32, isIn ? 0 : 1);
  run.setU8(33, size);
  run.setU16(34, port);
  run.setU32(36, count);
  run.setU64n(40, 4096);
  const n2 = size * count;
  if (isIn) run.pioPage.fill(0, 0, n2);
  else run.pioPage.set(sev.pioData.subarray(0, n2));
}
function sevEsOuts(sev, size, port) {
  if (sev.pioCount === 0) return 1;
  const count = Math.min(Math.floor(4096 / size), sev.pioCount);
  pioExit(sev, size, port, false, count);
  sev.pioCount -= count;
  sev.pioData = sev.pioData.subarray(count * size);
  sev.vcpu.completeUserspaceIo = () => sev.pioCount ? sevEsOuts(sev, size, port) : 1;
  return 0;
}
function sevEsIns(sev, size, port) {
  if (sev.pioCount === 0) return 1;
  const count = Math.min(Math.floor(4096 / size), sev.pioCount);
  pioExit(sev, size, port, true, count);
  sev.vcpu.completeUserspaceIo = () => {
    const n2 = count * size;
    sev.pioData.set(sev.vcpu.runArea.pioPage.subarray(0, n2));
    sev.pioData = sev.pioData.subarray(n2);
    sev.pioCount -= count;
    return sev.pioCount ? sevEsIns(sev, size, port) : 1;
  };
  return 0;
}

// src/sev/exits.ts
function kvmEmulateApResetHold(vcpu) {
  const hold = vcpu.vm.irqchip?.apResetHold;
  if (hold) return hold(vcpu);
  vcpu.runArea.exitReason = 32;
  return 0;
}
function sevTerminate(vcpu, ghcbMsr) {
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = 24;
  run.setU32(32, 6);
  run.setU32(36, 1);
  run.setDataWord(0, ghcbMsr);
  return 0;
}

// src/sev/mmio.ts
function sevEsMmio(sev, isWrite, gpa, len, scratchGpa) {
  const r = setupScratch(sev, !isWrite, len, scratchGpa, (again) => sevEsMmio(sev, isWrite, gpa, len, again));
  if (r !== 0) return r;
  const bytes = Number(len);
  if (bytes === 0) return 1;
  const vcpu = sev.vcpu;
  if (!sev.profile.mmioDirectionQuirk) vcpu.mmioIsWrite = isWrite;
  sev.mmioFragment = { gpa, len: bytes, data: sev.ghcbSa.subarray(0, bytes) };
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = 6;
  run.setU64(32, gpa);
  const first = Math.min(8, bytes);
  run.setU32(48, first);
  run.setU8(52, isWrite ? 1 : 0);
  if (isWrite) run.bytes.set(sev.mmioFragment.data.subarray(0, first), 40);
  vcpu.completeUserspaceIo = () => completeSevEsEmulatedMmio(sev);
  return 0;
}
function completeSevEsEmulatedMmio(sev) {
  const vcpu = sev.vcpu;
  const run = vcpu.runArea;
  const frag = sev.mmioFragment;
  const len = Math.min(8, frag.len);
  if (!vcpu.mmioIsWrite)
    frag.data.set(run.bytes.subarray(40, 40 + len));
  if (frag.len <= 8) {
    sev.mmioFragment = void 0;
    return 1;
  }
  frag.data = frag.data.subarray(len);
  frag.gpa += BigInt(len);
  frag.len -= len;
  run.clearExitUnion();
  run.exitReason = 6;
  run.setU64(32, frag.gpa);
  const next = Math.min(8, frag.len);
  run.setU32(48, next);
  run.setU8(52, vcpu.mmioIsWrite ? 1 : 0);
  if (vcpu.mmioIsWrite) run.bytes.set(frag.data.subarray(0, next), 40);
  vcpu.completeUserspaceIo = () => completeSevEsEmulatedMmio(sev);
  return 0;
}

// src/sev/msr-protocol.ts
const EINVAL2 = -22;
const CPUID_REGS = [0, 3, 1, 2];
const AP_RESET_HOLD_RESP_NOT_WOKEN = ghcbMsrApResetHoldResp(0n);
const HV_FT_RESP_SUPPORTED = ghcbMsrHvFtResp(GHCB_HV_FT_SUPPORTED);
function sevHandleVmgexitMsrProtocol(sev, lo = sev.vcpu.vmcb.ghcbGpaLo, hi = sev.vcpu.vmcb.ghcbGpaHi) {
  const vcpu = sev.vcpu;
  const vmcb = vcpu.vmcb;
  const profile = sev.profile;
  const info = lo & 4095;
  const trace = vcpu.vm.trace;
  if (trace) trace({ name: "kvm_vmgexit_msr_protocol_enter", vcpu: vcpu.id, ghcbGpa: vmcb.ghcbGpa });
  let ret3 = 1;
  switch (info) {
    case 2:
      vmcb.ghcbGpa = ghcbMsrSevInfo(sev.vm.ghcbVersion, 1, 51);
      break;
    case 4: {
      const r = vcpu.regs;
      r[2 * 0] = hi;
      r[2 * 0 + 1] = 0;
      r[2 * 1] = 0;
      r[2 * 1 + 1] = 0;
      ret3 = vcpu.invokeExitHandler(114);
      if (!ret3) break;
      const value = r[2 * CPUID_REGS[lo >>> 30 & 3]];
      vmcb.setGhcbGpa(lo & ~4095 | 5, value);
      break;
    }
    case 6:
      if (!profile.msrV2Requests) break;
      sev.apResetHoldType = "msr-protocol";
      ret3 = kvmEmulateApResetHold(vcpu);
      vmcb.ghcbGpa = AP_RESET_HOLD_RESP_NOT_WOKEN;
      break;
    case 128:
      if (!profile.msrV2Requests) break;
      vmcb.ghcbGpa = HV_FT_RESP_SUPPORTED;
      break;
    case 16:
    case 18:
    case 20:
      if (profile.msrSnpRequestsTerminate) return traced(sev, terminate(sev));
      break;
    case 256:
      return traced(sev, terminate(sev));
    default:
      break;
  }
  return traced(sev, ret3);
}
function terminate(sev) {
  if (sev.profile.termination === "einval") return (-22);
  return sevTerminate(sev.vcpu, sev.vcpu.vmcb.ghcbGpa);
}
function traced(sev, ret3) {
  const trace = sev.vcpu.vm.trace;
  if (trace) {
    trace({
      name: "kvm_vmgexit_msr_protocol_exit",
      vcpu: sev.vcpu.id,
      ghcbGpa: sev.vcpu.vmcb.ghcbGpa,
      result: ret3
    });
  }
  return ret3;
}

// src/sev/vmgexit.ts
const EINVAL3 = -22;
const W_RAX2 = bitWord(504);
const M_RAX2 = bitMask(504);
const W_RBX2 = bitWord(792);
const M_RBX2 = bitMask(792);
const W_RCX2 = bitWord(776);
const M_RCX2 = bitMask(776);
const W_RDX2 = bitWord(784);
const M_RDX2 = bitMask(784);
const W_RSI = bitWord(816);
const M_RSI = bitMask(816);
const W_CPL = bitWord(203);
const M_CPL = bitMask(203);
const W_XCR0 = bitWord(1000);
const M_XCR0 = bitMask(1000);
const W_SCRATCH = bitWord(936);
const M_SCRATCH = bitMask(936);
const W_EXIT2 = bitWord(912);
const M_EXIT = bitMask(912) | bitMask(920) | bitMask(928);
if (bitWord(920) !== W_EXIT2 || bitWord(928) !== W_EXIT2) {
  throw new Error("sw_exit_code/info_1/info_2 valid bits are expected in one bitmap word");
}
const W_XSS = bitWord(320);
const M_XSS = bitMask(320);
function sevHandleVmgexit(sev) {
  const vcpu = sev.vcpu;
  const lo = vcpu.vmcb.ghcbGpaLo;
  const hi = vcpu.vmcb.ghcbGpaHi;
  let gfn;
  if (lo === sev.ghcbMsrSeenLo && hi === sev.ghcbMsrSeenHi) {
    gfn = sev.ghcbMsrGfn;
  } else {
    if (lo & 4095) return sevHandleVmgexitMsrProtocol(sev, lo, hi);
    if (lo === 0 && hi === 0) return 1;
    gfn = hi * 1048576 + (lo >>> 12);
    sev.ghcbMsrSeenLo = lo;
    sev.ghcbMsrSeenHi = hi;
    sev.ghcbMsrGfn = gfn;
  }
  if (!sev.mapGhcb(gfn)) return reportGhcbMapFault(sev, gfn, () => sevHandleVmgexit(sev));
  const ghcb = sev.ghcb;
  const bits = sev.validBits;
  ghcb.readBitmap(bits);
  const trace = vcpu.vm.trace;
  if (trace) {
    trace({
      name: "kvm_vmgexit_enter",
      vcpu: vcpu.id,
      exitCode: ghcb.get(912),
      info1: ghcb.get(920),
      info2: ghcb.get(928)
    });
  }
  loadExitFields(sev, ghcb);
  if (sev.profile.snapshotGhcb) {
    sevEsSyncFromGhcb(sev);
    if (!sevEsValidateVmgexit(sev)) return 1;
  } else {
    if (!sevEsValidateVmgexit(sev)) return 1;
    sevEsSyncFromGhcb(sev);
  }
  sev.setExitInfoZero();
  return sevDispatchVmgexit(sev);
}
function loadExitFields(sev, ghcb) {
  sev.vcpu.vmcb.setExit(
    ghcb.lo(912),
    ghcb.lo(920),
    ghcb.hi(920),
    ghcb.lo(928),
    ghcb.hi(928),
    ghcb.hi(912)
  );
}
function sevEsSyncFromGhcb(sev) {
  const ghcb = sev.ghcb;
  const bits = sev.validBits;
  const snapshot = sev.profile.snapshotGhcb;
  if (snapshot) sev.snapshot.writeBitmap(bits);
  const vcpu = sev.vcpu;
  const r = vcpu.regs;
  clearGprs(r);
  if (bits[W_RAX2] & M_RAX2) {
    r[2 * 0] = ghcb.lo(504);
    r[2 * 0 + 1] = ghcb.hi(504);
  }
  if (bits[W_RBX2] & M_RBX2) {
    r[2 * 3] = ghcb.lo(792);
    r[2 * 3 + 1] = ghcb.hi(792);
  }
  if (bits[W_RCX2] & M_RCX2) {
    r[2 * 1] = ghcb.lo(776);
    r[2 * 1 + 1] = ghcb.hi(776);
  }
  if (bits[W_RDX2] & M_RDX2) {
    r[2 * 2] = ghcb.lo(784);
    r[2 * 2 + 1] = ghcb.hi(784);
  }
  if (bits[W_RSI] & M_RSI) {
    r[2 * 6] = ghcb.lo(816);
    r[2 * 6 + 1] = ghcb.hi(816);
  }
  vcpu.cpl = bits[W_CPL] & M_CPL ? ghcb.getU8(203) : 0;
  if (bits[W_XCR0] & M_XCR0) {
    const xcr0 = ghcb.get(1000);
    if (sev.profile.ghcbXcr0 === "checked") kvmSetXcr0(vcpu, xcr0);
    else vcpu.xcr0 = xcr0;
  }
  if (sev.profile.ghcbXss && bits[W_XSS] & M_XSS) vcpu.xss = ghcb.get(320);
  if (snapshot) {
    const scratch2 = (bits[W_SCRATCH] & M_SCRATCH) !== 0;
    sev.swScratchLo = scratch2 ? ghcb.lo(936) : 0;
    sev.swScratchHi = scratch2 ? ghcb.hi(936) : 0;
  }
  ghcb.clearValidBitmap();
}
function raxIs0xd(sev) {
  if (sev.profile.snapshotGhcb) {
    const r = sev.vcpu.regs;
    return r[2 * 0] === 13 && r[2 * 0 + 1] === 0;
  }
  const g = sev.ghcb;
  return g.lo(504) === 13 && g.hi(504) === 0;
}
function fail2(sev, error, why) {
  if (!sev.profile.snapshotGhcb) sev.ghcb.clearValidBitmap();
  sev.badInput(error, why);
  return false;
}
function missing(sev) {
  return fail2(sev, 4, "missing-input");
}
function sevEsValidateVmgexit(sev) {
  const profile = sev.profile;
  const bits = sev.validBits;
  if (sev.ghcb.getU32(4092) !== 0) return fail2(sev, 2, "usage");
  if ((bits[W_EXIT2] & M_EXIT) !== M_EXIT) return missing(sev);
  const vmcb = sev.vcpu.vmcb;
  if (vmcb.exitCodeHi !== 0) return fail2(sev, 6, "invalid-event");
  const info1Lo = vmcb.exitInfo1Lo;
  const rax = (bits[W_RAX2] & M_RAX2) !== 0;
  const rcx = (bits[W_RCX2] & M_RCX2) !== 0;
  switch (vmcb.exitCode) {
    case 39:
    case 110:
    case 118:
    case 135:
    case 137:
    case 2147483651:
    case 2147483652:
    case 2147483653:
    case 2147549183:
      return true;
    case 55:
      return rax || missing(sev);
    case 111:
      return rcx || missing(sev);
    case 114: {
      if (!rax || !rcx) return missing(sev);
      if (raxIs0xd(sev) && (bits[W_XCR0] & M_XCR0) === 0) return missing(sev);
      return true;
    }
    case 123:
      if (info1Lo & SVM_IOIO_STR_MASK) return (bits[W_SCRATCH] & M_SCRATCH) !== 0 || missing(sev);
      if (!(info1Lo & 1)) return rax || missing(sev);
      return true;
    case 124:
      if (!rcx) return missing(sev);
      if ((info1Lo | vmcb.exitInfo1Hi) !== 0 && !(rax && (bits[W_RDX2] & M_RDX2) !== 0)) return missing(sev);
      return true;
    case 129:
      return rax && (bits[W_CPL] & M_CPL) !== 0 || missing(sev);
    case 138:
      return rax && rcx && (bits[W_RDX2] & M_RDX2) !== 0 || missing(sev);
    case 139:
      return rax && rcx || missing(sev);
    case 2147483649:
    case 2147483650:
      return (bits[W_SCRATCH] & M_SCRATCH) !== 0 || missing(sev);
    case 2147549181:
    case 2147549182:
      return profile.v2Events || fail2(sev, 6, "invalid-event");
    case 2147483664:
    case 2147483665:
    case 2147483666:
    case 2147483667:
      return profile.snpEventsFromEs === "missing-input" ? missing(sev) : fail2(sev, 6, "invalid-event");
    default:
      return fail2(sev, 6, "invalid-event");
  }
}
function sevDispatchVmgexit(sev) {
  const vcpu = sev.vcpu;
  const profile = sev.profile;
  const code = vcpu.vmcb.exitCode;
  switch (code) {
    case 2147483649:
    case 2147483650: {
      const len = sev.exitInfo2;
      if (profile.ignoreZeroLength && len === 0n) return 1;
      if (profile.v2Restrictions && sev.vm.ghcbVersion >= 2 && len > 8n) {
        sev.badInput(5, "mmio-length");
        return 1;
      }
      return sevEsMmio(sev, code === 2147483650, sev.exitInfo1, len, sev.scratchGpa);
    }
    case 2147483651:
      return profile.nmiComplete === "iret" ? vcpu.invokeExitHandler(116) : 1;
    case 2147483652:
      sev.apResetHoldType = "nae-event";
      return kvmEmulateApResetHold(sev.vcpu);
    case 2147483653: {
      const info1 = sev.exitInfo1;
      if (info1 === 0n) sev.vm.apJumpTable = sev.exitInfo2;
      else if (info1 === 1n) sev.setExitInfo(0n, sev.vm.apJumpTable);
      else sev.badInput(5, "ap-jump-table");
      return 1;
    }
    case 2147549181:
      sev.setExitInfo(0n, GHCB_HV_FT_SUPPORTED);
      return 1;
    case 2147549182:
      return sevTerminate(vcpu, vcpu.vmcb.ghcbGpa);
    case 2147549183:
      return (-22);
    case 123:
      if (profile.ignoreZeroLength && (vcpu.vmcb.exitInfo1Lo & SVM_IOIO_SIZE_MASK) === 0) return 1;
      return vcpu.invokeExitHandler(code);
    default:
      return vcpu.invokeExitHandler(code);
  }
}

// src/sev/sev-es-vcpu.ts
const LIVELOCK_NPF_REPEATS = 1e3;
const GHCB_SNAPSHOT_SIZE = 1032;
const SevEsVcpu = class {
  vcpu;
  vm;
  profile;
  exitHandlers;
  /** svm->sev_es.ghcb_map / ghcb: the guest's GHCB page while a VMGEXIT is in progress. */
  ghcbMap;
  ghcb;
  /**
   * current's private copy of the save area (svm->sev_es.valid_bitmap): sync copies the valid
   * bitmap here; the fields KVM reads land in the registers and the exit fields instead.
   */
  snapshot;
  /**
   * The GHCB valid bitmap of the VMGEXIT being handled, as four little-endian u32 words (bit i in
   * word i >> 5), read when it began: what current snapshots and every kernel validates against.
   */
  validBits = new Uint32Array(4);
  /** current: svm->sev_es.sw_scratch, copied at sync time (as halves; `swScratch` reads it). */
  swScratchLo = 0;
  swScratchHi = 0;
  /**
   * The GHCB MSR value (halves; -1: none yet) of the last VMGEXIT that named a GHCB page, and the
   * gfn it names, so a guest re-registering the same GHCB costs one comparison, not a decode.
   */
  ghcbMsrSeenLo = -1;
  ghcbMsrSeenHi = -1;
  ghcbMsrGfn = -1;
  /** Scratch area: a view of the GHCB shared buffer, or of a bounce buffer. */
  ghcbSa;
  ghcbSaLen = 0;
  ghcbSaSync = false;
  ghcbSaFree = false;
  /** The bounce buffer's allocation, charged to the host allocator. */
  ghcbSaAlloc;
  /** sevbox extension: the VMGEXIT KVM will process again on the next KVM_RUN (restart.ts). */
  pendingRestart;
  apResetHoldType = "none";
  receivedFirstSipi = false;
  /** vcpu->mmio_fragments[0] of an SEV-ES MMIO request in progress. */
  mmioFragment;
  /** vcpu->arch.sev_pio_data / sev_pio_count of a string I/O request in progress. */
  pioData = new Uint8Array(0);
  pioCount = 0;
  /** The GPA of the last nested page fault KVM could not emulate, and how often it repeated. */
  #npfGpa = -1;
  #npfRepeats = 0;
  /** The GHCB page mapping, kept across VMGEXITs while memslots and host mappings are unchanged. */
  #ghcbCache;
  /** The GhcbAccess of the last mapping handed out (one word view per cached page, not per exit). */
  #access;
  #accessMap;
  constructor(vcpu, vm, snapshot) {
    this.vcpu = vcpu;
    this.vm = vm;
    this.profile = vm.profile;
    this.snapshot = snapshot;
    this.exitHandlers = /* @__PURE__ */ new Map([
      [1027, () => sevHandleVmgexit(this)],
      // The automatic exits sev_es_init_vmcb asks for (svm_exit_handlers has them for every VM;
      // only an SEV-ES VMCB enables them).
      [143, eferTrap],
      [144, crTrap],
      [148, crTrap],
      [152, crTrap]
    ]);
    this.#ghcbCache = new GuestPageCache(vcpu.vm);
  }
  /** current: svm->sev_es.sw_scratch, copied at sync time. */
  get swScratch() {
    return u64Join(this.swScratchLo, this.swScratchHi);
  }
  /** sw_exit_code of this VMGEXIT, as sync put it in the VMCB (control.exit_code and exit_code_hi). */
  get exitCode() {
    const vmcb = this.vcpu.vmcb;
    return u64Join(vmcb.exitCode, vmcb.exitCodeHi);
  }
  /** sw_exit_info_1 of this VMGEXIT (control.exit_info_1). */
  get exitInfo1() {
    return this.vcpu.vmcb.exitInfo1;
  }
  /** sw_exit_info_2 of this VMGEXIT (control.exit_info_2). */
  get exitInfo2() {
    return this.vcpu.vmcb.exitInfo2;
  }
  /** The scratch GPA this kernel uses: current's copy of sw_scratch, or (prefix/seed) the live page's. */
  get scratchGpa() {
    return this.profile.snapshotGhcb ? this.swScratch : this.ghcb.get(936);
  }
  /**
   * kvm_vcpu_map of the GHCB page: sets ghcbMap and ghcb (reusing the cached mapping and its
   * GhcbAccess when still valid) and returns true, or false when the gfn cannot be mapped.
   */
  mapGhcb(gfn) {
    const map = this.#ghcbCache.map(gfn);
    if (!map) return false;
    if (map !== this.#accessMap) {
      this.#access = new GhcbAccess(map.page);
      this.#accessMap = map;
    }
    this.ghcbMap = map;
    this.ghcb = this.#access;
    return true;
  }
  /** svm_vmgexit_success / ghcb_set_sw_exit_info_*: write a result into the live GHCB. */
  setExitInfo(info1, info2) {
    const g = this.ghcb;
    g.set(920, info1);
    g.set(928, info2);
  }
  /** setExitInfo(0, 0): svm_vmgexit_success with nothing to report, without BigInt. */
  setExitInfoZero() {
    this.ghcb.setExitInfoZero();
  }
  /** svm_vmgexit_bad_input: reflect GHCB_ERR_* to the guest. */
  badInput(error, why) {
    this.setExitInfo(2n, BigInt(error));
    const trace = this.vcpu.vm.trace;
    if (trace) trace({ name: "sevbox_ghcb_error", vcpu: this.vcpu.id, exitCode: this.exitCode, error, why });
  }
  prepareSwitchToGuest() {
    const vcpu = this.vcpu;
    if (!vcpu.hasRun) vcpu.vmcb.save.setBigUint64(1000, vcpu.xcr0, true);
    sevEsUnmapGhcb(this);
  }
  /** svm_complete_emulated_msr: an SEV-ES guest learns of #GP through the GHCB. */
  completeEmulatedMsr(err) {
    if (!err || !this.ghcb) {
      if (err) kvmQueueException(this.vcpu, 13, 0);
      return 1;
    }
    this.setExitInfo(
      BigInt(1),
      BigInt((2147483648 | SVM_EVTINJ_TYPE_EXEPT | 13) >>> 0)
    );
    return 1;
  }
  stringIo(size, port, isIn) {
    return sevEsStringIo(this, size, port, isIn, this.scratchGpa);
  }
  deliverSipi(vector) {
    sevVcpuDeliverSipiVector(this, vector);
  }
  /**
   * A write to a read-only memslot (an ordinary nested page fault, not #VC): KVM asks to emulate it
   * and svm_can_emulate_instruction refuses for SEV-ES, so KVM resumes the guest, which faults again,
   * forever (v5.17 and legacy SEV-ES VMs; current refuses such slots for its SEV-ES VM type). The
   * model follows the loop until it is plainly one, then reports it as the VMM's watchdog would see
   * it: KVM_RUN interrupted (EINTR) and a sevbox_livelock trace event.
   */
  cannotEmulate(gpa, write) {
    const vcpu = this.vcpu;
    if (gpa === this.#npfGpa) this.#npfRepeats++;
    else {
      this.#npfGpa = gpa;
      this.#npfRepeats = 1;
    }
    if (this.#npfRepeats < 1000) return 1;
    this.#npfRepeats = 0;
    this.#npfGpa = -1;
    vcpu.vm.trace?.({ name: "sevbox_livelock", vcpu: vcpu.id, gpa, write, repeats: 1000 });
    vcpu.runArea.exitReason = 10;
    return -4;
  }
  /** sev_free_vcpu: free a bounce buffer still held; no write-back, no register sync. */
  destroy() {
    releaseScratch(this);
    this.pendingRestart = void 0;
  }
};
function releaseScratch(sev) {
  if (sev.ghcbSaFree && sev.ghcbSaAlloc) sev.vcpu.vm.allocator.free(sev.ghcbSaAlloc);
  sev.ghcbSaAlloc = void 0;
  sev.ghcbSa = void 0;
  sev.ghcbSaFree = false;
  sev.ghcbSaSync = false;
}
function sevEsUnmapGhcb(sev) {
  if (sev.profile.snapshotGhcb) sev.apResetHoldType = "none";
  const ghcb = sev.ghcb;
  if (!ghcb || !sev.ghcbMap) return;
  const vcpu = sev.vcpu;
  if (sev.ghcbSaFree) {
    if (sev.ghcbSaSync && sev.ghcbSa) {
      const gpa = sev.scratchGpa;
      if (gpa < GPA_NUMBER_LIMIT) vcpu.vm.writeGuest(Number(gpa), sev.ghcbSa.subarray(0, sev.ghcbSaLen));
    }
    releaseScratch(sev);
  }
  ghcb.setGprs(vcpu.regs);
  const trace = vcpu.vm.trace;
  if (trace) {
    trace({
      name: "kvm_vmgexit_exit",
      vcpu: vcpu.id,
      exitCode: ghcb.get(912),
      info1: ghcb.get(920),
      info2: ghcb.get(928)
    });
  }
  vcpu.vm.unmapGuestPage(sev.ghcbMap);
  sev.ghcbMap = void 0;
  sev.ghcb = void 0;
}

// src/sev/sev-es-vm.ts
function resolveProfile(p2) {
  if (p2 === void 0) return SEV_PROFILES.current;
  return typeof p2 === "string" ? SEV_PROFILES[p2] : p2;
}
const EINVAL4 = 22;
const SUPPORTED_VMSA_FEATURES = 0n;
function sevEsState(vm, profile, hasProtectedState, ghcbVersion) {
  const state = {
    vm,
    profile,
    ghcbVersion,
    apJumpTable: 0n,
    sevbox: { faultInfo: false, restart: false },
    protectedState: hasProtectedState,
    get sevEs() {
      return state.ghcbVersion !== 0;
    },
    enableCap(cap, args) {
      if (!state.sevEs) return new Errno("EINVAL", `KVM_ENABLE_CAP ${cap}: not an SEV-ES VM yet`);
      return sevboxEnableCap(state.sevbox, cap, args);
    },
    memEncOp(cmd) {
      return sevMemEncOp(state, cmd);
    },
    vcpuPreRun() {
      return state.protectedState && !state.sevEs ? -22 : 1;
    },
    initVmcb(vcpu) {
      if (state.sevEs) sevInitVmcb(vcpu);
    },
    recalcMsrIntercepts(vcpu) {
      if (state.sevEs) sevEsRecalcMsrIntercepts(vcpu);
    },
    createVcpu(vcpu) {
      if (!state.sevEs) return {};
      vcpu.vmcb.ghcbGpa = ghcbMsrSevInfo(state.ghcbVersion, 1, 51);
      return new SevEsVcpu(vcpu, state, new GhcbAccess(new Uint8Array(1032)));
    }
  };
  return state;
}
function readSevInit(vm, data) {
  const buf = new Uint8Array(48);
  if (data === 0n || data > BigInt(Number.MAX_SAFE_INTEGER)) return new Errno("EFAULT", "kvm_sev_init");
  const f = vm.host.read(Number(data), buf);
  if (f) return new Errno("EFAULT", "kvm_sev_init");
  return decodeSevInit(buf);
}
function unknownCommand(profile, cmd) {
  if (cmd.id >= 103 || cmd.id === 22 && !profile.core.vmTypes)
    return new Errno("EINVAL", `KVM_MEMORY_ENCRYPT_OP: unknown command ${cmd.id}`);
  return void 0;
}
function sevInitNotModelled() {
  return new Errno("EINVAL", "KVM_SEV_INIT (SEV without ES) is not modelled");
}
function esInitAfterVcpus() {
  return new Errno("EINVAL", "KVM_SEV_ES_INIT after KVM_CREATE_VCPU");
}
function sevMemEncOp(state, cmd) {
  const vm = state.vm;
  const unknown = unknownCommand(state.profile, cmd);
  if (unknown) return unknown;
  switch (cmd.id) {
    case 0:
    case 1:
      if (state.protectedState)
        return new Errno("EINVAL", "KVM_SEV_INIT/KVM_SEV_ES_INIT on a VM with a type");
      if (vm.vcpus.size > 0) return esInitAfterVcpus();
      if (cmd.id === 0) return sevInitNotModelled();
      return new Errno(state.profile.reinitErrno, "KVM_SEV_ES_INIT: the VM is an SEV guest already");
    case 22: {
      if (state.sevEs || !state.protectedState)
        return new Errno("EINVAL", "KVM_SEV_INIT2: already initialised");
      const init = readSevInit(vm, cmd.data);
      if (init instanceof Errno) return init;
      if (vm.vcpus.size > 0) return new Errno("EINVAL", "KVM_SEV_INIT2 after KVM_CREATE_VCPU");
      if (init.flags) return new Errno("EINVAL", "KVM_SEV_INIT2: flags");
      if (init.vmsaFeatures & ~SUPPORTED_VMSA_FEATURES)
        return new Errno("EINVAL", "KVM_SEV_INIT2: vmsa_features");
      if (init.ghcbVersion > state.profile.ghcbVersionMax)
        return new Errno(
          "EINVAL",
          `KVM_SEV_INIT2: GHCB version ${init.ghcbVersion} (max ${state.profile.ghcbVersionMax})`
        );
      state.ghcbVersion = init.ghcbVersion || state.profile.ghcbVersionDefault;
      return { ...cmd, error: 0 };
    }
    default:
      if (!state.sevEs)
        return new Errno("ENOTTY", `KVM_MEMORY_ENCRYPT_OP ${cmd.id} on a VM that is no SEV guest yet`);
      return new Errno("EINVAL", `KVM_MEMORY_ENCRYPT_OP command ${cmd.id} is not modelled yet`);
  }
}
function sevEsVmType(profile) {
  return {
    type: 3,
    init: (vm) => sevEsState(vm, profile, true, 0)
  };
}
function legacySevMemEncOp(profile) {
  return (vm, cmd) => {
    const unknown = unknownCommand(profile, cmd);
    if (unknown) return unknown;
    if (cmd.id === 22) return new Errno("EINVAL", "KVM_SEV_INIT2 on a KVM_X86_DEFAULT_VM");
    if (cmd.id === 0) return sevInitNotModelled();
    if (cmd.id !== 1)
      return new Errno("ENOTTY", `KVM_MEMORY_ENCRYPT_OP ${cmd.id} on a VM that is no SEV guest`);
    if (vm.vcpus.size > 0) return esInitAfterVcpus();
    vm.typeOps = sevEsState(vm, profile, false, 1);
    return { ...cmd, error: 0 };
  };
}
function sevKvmOptions(profile) {
  const p2 = resolveProfile(profile);
  return { core: p2.core, vmTypes: p2.core.vmTypes ? [sevEsVmType(p2)] : [], memEncOp: legacySevMemEncOp(p2) };
}

// src/vmm/platform.ts
function modelPlatform(opts = {}) {
  const host = new HostAddressSpace();
  const allocator = opts.allocator ?? new HostAllocator();
  const guests = new ScriptedGuests();
  const sev = sevKvmOptions(opts.profile ?? "current");
  const kvm = openKvm({
    ...sev,
    ...opts.core ? { core: { ...sev.core, ...opts.core } } : {},
    host,
    allocator,
    cpus: opts.cpu === "x86" ? (_id, protectedState) => new X86Cpu(protectedState, opts.x86) : guests.cpus,
    // The interpreter saves x87 and SSE state only: KVM offers the guest no more (CPUID 0xD, XCR0).
    ...opts.cpu === "x86" ? { hostXcr0: BigInt(X86_XCR0_SUPPORTED) } : {},
    ...opts.maxPhysBits !== void 0 ? { maxPhysBits: opts.maxPhysBits } : {}
  });
  return {
    kvm,
    memory: new ModelProcessMemory(host),
    host,
    allocator,
    guests,
    tracepoints: (sink) => {
      kvm.kvm.trace = sink;
    }
  };
}

// test/x86/sev-es-firmware.ts
import assert2 from "node:assert/strict";

// src/kvm/test-util.ts
import assert from "node:assert/strict";
function ok(r, message) {
  if (r instanceof Errno) assert.fail(`${message ? `${message}: ` : ""}unexpected ${r.toString()}`);
  return r;
}

// test/x86/sev-es-firmware.ts
var ROM_GPA = 4294963200;
var RAM_SIZE = 65536;
function sevEsFirmwareVm(rom, x86, opts = {}) {
  const { kvm, memory } = modelPlatform({ profile: "current", cpu: "x86", ...x86 && { x86 } });
  const vm = ok(kvm.createVm(opts.legacy ? 0 : 3));
  if (opts.legacy) ok(vm.memoryEncryptOp({ id: 1, data: 0n, error: 0, sevFd: 0 }));
  else {
    const init = ok(memory.mapAnonymous(4096));
    ok(memory.write(init, encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: 2 })));
    ok(vm.memoryEncryptOp({ id: 22, data: BigInt(init), error: 0, sevFd: 0 }));
  }
  const ram = ok(memory.mapAnonymous(RAM_SIZE));
  const romHva = ok(memory.mapAnonymous(4096));
  ok(memory.write(romHva, rom));
  const region = (slot2, gpa, size, hva) => vm.setUserMemoryRegion({
    slot: slot2,
    flags: 0,
    guestPhysAddr: BigInt(gpa),
    memorySize: BigInt(size),
    userspaceAddr: BigInt(hva)
  });
  assert2.equal(region(0, 0, RAM_SIZE, ram), void 0);
  assert2.equal(region(1, ROM_GPA, 4096, romHva), void 0);
  const vcpu = ok(vm.createVcpu(0));
  return { kvm, memory, ram, vcpu };
}

// bench/vmgexit.bench.ts
const RAM = 1048576;
function machine(program, sev) {
  const { kvm, memory, guests } = modelPlatform({ profile: "current" });
  const vm = kvm.createVm(sev ? 3 : 0);
  if (isErrno(vm)) throw new Error(String(vm));
  if (sev) {
    const init = ok2(memory.mapAnonymous(4096));
    memory.write(init, encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: 2 }));
    ok2(vm.memoryEncryptOp({ id: 22, data: BigInt(init), error: 0, sevFd: 0 }));
  }
  const hva = ok2(memory.mapAnonymous(1048576));
  const set = vm.setUserMemoryRegion({
    slot: 0,
    flags: 0,
    guestPhysAddr: 0n,
    memorySize: BigInt(1048576),
    userspaceAddr: BigInt(hva)
  });
  if (set) throw new Error(String(set));
  guests.load(0, { program });
  return ok2(vm.createVcpu(0));
}
function ok2(r) {
  if (isErrno(r)) throw new Error(String(r));
  return r;
}
function inKernel(fd) {
  const vcpu = fd.vcpu;
  return (n2) => {
    vcpu.maxVmexitsPerRun = n2;
    const r = vcpu.run();
    if (r !== -4) throw new Error(`KVM_RUN returned ${r}, expected -EINTR from the #VMEXIT budget`);
    return vcpu.vmexits;
  };
}

// bench/x86.bench.ts
const PER_VMEXIT = 65536;
const LOOP = [
  72,
  1,
  216,
  72,
  49,
  194,
  72,
  139,
  55,
  72,
  1,
  206,
  72,
  137,
  119,
  8,
  72,
  209,
  227,
  72,
  131,
  203,
  1,
  72,
  131,
  233,
  1,
  72,
  129,
  226,
  255,
  255,
  0,
  0,
  76,
  141,
  4,
  80,
  76,
  57,
  201,
  117,
  213
];
function ok3(r) {
  if (isErrno(r)) throw new Error(String(r));
  return r;
}
function loopMachine(x86) {
  const { kvm, memory } = modelPlatform({ profile: "current", cpu: "x86", x86 });
  const vm = ok3(kvm.createVm(0));
  const hva = ok3(memory.mapAnonymous(65536));
  const set = vm.setUserMemoryRegion({
    slot: 0,
    flags: 0,
    guestPhysAddr: 0n,
    memorySize: 0x10000n,
    userspaceAddr: BigInt(hva)
  });
  if (set) throw new Error(String(set));
  const w = (gpa, bytes) => void ok3(memory.write(hva + gpa, bytes));
  for (const t of identityPageTables(12288)) w(t.gpa, t.bytes);
  w(4096, Uint8Array.from(LOOP));
  const fd = ok3(vm.createVcpu(0));
  const cpu = fd.vcpu.backend;
  ok3(setLongModeEntry(fd, { rip: 4096, rsp: 32768, cr3: 12288 }));
  ok3(fd.setRegs({ ...ok3(fd.getRegs()), rdi: 0x2000n, rcx: 0x7fffffffffffn, rbx: 1n }));
  return { fd, cpu };
}
function loop2(x86) {
  const { fd, cpu } = loopMachine(x86);
  const vcpu = fd.vcpu;
  return (n2) => {
    vcpu.maxVmexitsPerRun = n2;
    const r = vcpu.run();
    if (r !== -4) throw new Error(`KVM_RUN returned ${r}, expected -EINTR from the #VMEXIT budget`);
    return cpu.instructions;
  };
}
function compiledShape() {
  const mem = new Uint32Array(4);
  let raxLo = 0;
  let rbxLo = 1;
  let rcxLo = 4294967295;
  let rdxLo = 0;
  let r8Lo = 0;
  let resLo = 0;
  return (n2) => {
    for (let k = 0; k < n2; k++) {
      for (let j = 0; j < 65536 / 12; j++) {
        raxLo = raxLo + rbxLo >>> 0;
        rdxLo = (rdxLo ^ raxLo) >>> 0;
        const rsi = mem[0] + rcxLo >>> 0;
        mem[2] = rsi;
        rbxLo = (rbxLo << 1 | 1) >>> 0;
        rcxLo = rcxLo - 1 >>> 0;
        rdxLo &= 65535;
        r8Lo = raxLo + rdxLo * 2 >>> 0;
        resLo = rcxLo;
        if (resLo === 0) break;
      }
    }
    return r8Lo;
  };
}
function vcRoundTrips() {
  const rom = readFileSync(new URL("../test/x86/fixtures/sev-es-cpuid-loop.bin", import.meta.url));
  return inKernel(sevEsFirmwareVm(rom).vcpu);
}
const rows = [
  {
    name: "x86 integer loop, long mode + paging (interpreted)",
    unit: "instructions/s",
    perOp: 65536,
    setup: () => ({ run: loop2({ compile: false }), baseline: compiledShape() })
  },
  {
    name: "x86 integer loop, long mode + paging (compiled)",
    unit: "instructions/s",
    perOp: 65536,
    target: { value: 15e7 },
    setup: () => ({ run: loop2({ compile: true }), baseline: compiledShape() })
  },
  {
    // Baseline: the scripted guest's MSR-protocol CPUID (its #VC is a TypeScript call, not code).
    name: "x86 #VC round trip (CPUID, MSR protocol)",
    unit: "VMEXITs/s",
    setup: () => ({
      run: vcRoundTrips(),
      baseline: inKernel(
        machine(function* (cpu) {
          const ghcb = new GhcbClient(cpu, 4096, { version: 2 });
          for (; ; ) yield* ghcb.cpuidMsr(2147483648, 0);
        }, true)
      )
    })
  }
];

// .profsrc/x86count.ts
var p = rows[0].setup();
var n = Number(process.argv[4] ?? 10);
p.run(20);
p.run(n);
//# sourceMappingURL=x86count.mjs.map
