/**
 * A scenario's steps as a guest program for the scripted CPU. An SEV-ES guest talks to KVM through
 * its GHCB client (MSR protocol, one NAE request per step, raw pages for hostile steps) with the
 * Linux-like #VC handler installed; an unprotected guest executes the plain instructions. Each step
 * records what the guest saw, so expectations can be checked after the run.
 */
import { NPT_OK } from '../cpu/backend.js';
import {
  GuestException,
  type GuestOp,
  type GuestProgram,
  observeOps,
  type ScriptedCpu,
} from '../cpu/scripted.js';
import { GhcbClient } from '../guest/ghcb-client.js';
import type { GhcbResult } from '../guest/result.js';
import { verifyExceptionInfo } from '../guest/result.js';
import { ghcbVcHandler } from '../guest/vc-handler.js';
import {
  decodeGhcbMsrSevInfo,
  GHCB_FIELDS,
  GHCB_MSR_AP_RESET_HOLD_REQ,
  GHCB_MSR_AP_RESET_HOLD_RESP,
  GHCB_MSR_CPUID_RESP,
  GHCB_MSR_HV_FT_REQ,
  GHCB_MSR_HV_FT_RESP,
  GHCB_MSR_SEV_INFO_REQ,
  GHCB_MSR_SEV_INFO_RESP,
  GHCB_OFF_CPL,
  GHCB_OFF_PROTOCOL_VERSION,
  GHCB_OFF_SW_EXIT_CODE,
  GHCB_OFF_SW_EXIT_INFO_1,
  GHCB_OFF_SW_EXIT_INFO_2,
  GHCB_OFF_USAGE,
  GHCB_OFF_VALID_BITMAP,
  GHCB_SIZE,
  ghcbMsrCpuidReq,
  ghcbMsrCpuidRespValue,
  ghcbMsrData,
  ghcbMsrInfo,
  ghcbMsrTermReq,
} from '../uapi/ghcb.js';
import type { Scenario, VcpuProgram } from './schema.js';
import type { Step } from './steps.js';

/** A value a step produced, as the guest saw it. */
export type SeenValue = bigint | boolean | Uint8Array | 'none';

/** What one step did, from the guest's side. */
export interface StepRecord {
  readonly index: number;
  readonly verb: Step['verb'];
  /** The guest began the step (its host actions were applied). */
  started: boolean;
  /** The guest completed the step (the VM did not stop inside it). */
  finished: boolean;
  /** The hypervisor's answer (GHCB steps), or ok / exception for plain instructions. */
  result?: GhcbResult | { readonly kind: 'exception'; readonly vector: number; readonly errorCode?: number };
  /** Values the step returned: eax, value, data, response, ... */
  readonly values: Record<string, SeenValue>;
  /** VMGEXIT instructions the step executed. */
  vmgexits: number;
  /** The step could not be carried out by the guest (a bad argument for the client, a crash). */
  error?: string;
}

/** A compiled guest program and the records it fills while it runs. */
export interface CompiledProgram {
  readonly program: GuestProgram;
  readonly records: readonly StepRecord[];
  /** The step the guest is in (-1 before the first, steps.length after the last). */
  currentStep(): number;
  /**
   * The step whose host actions are due: before such a step the guest halts (HLT, an exit to
   * userspace that involves no VMGEXIT), and the VMM applies the actions at that exit, between two
   * KVM_RUNs. Returns the step once, then undefined.
   */
  takeHostStep(): number | undefined;
}

type Gen<T = void> = Generator<GuestOp, T, unknown>;
const FIELD_OFFSET = new Map(
  GHCB_FIELDS.filter((f) => f.validBit !== undefined).map((f) => [f.name, f.offset]),
);

/** Little-endian bytes of the low `size` bytes of `v`. */
function leBytes(v: bigint, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return out;
}

function leValue(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

function pieceSize(n: number): 1 | 2 | 4 | 8 {
  return n >= 8 ? 8 : n >= 4 ? 4 : n >= 2 ? 2 : 1;
}

/** Guest stores of `data` at `gpa`: one RAM access, else store instructions (NPF, or #VC for MMIO). */
function* writeMemory(cpu: ScriptedCpu, gpa: number, data: Uint8Array): Gen {
  if (cpu.mem.write(gpa, data) === NPT_OK) return;
  for (let off = 0; off < data.length; ) {
    const n = pieceSize(data.length - off);
    yield* cpu.store(gpa + off, n, leValue(data.subarray(off, off + n)));
    off += n;
  }
}

/** Run `inner`, counting its VMGEXITs into `rec`. */
function counting<T>(inner: Gen<T>, rec: StepRecord): Gen<T> {
  return observeOps(inner, (op) => {
    if (op.op === 'vmgexit') rec.vmgexits++;
  });
}

/** An SEV-ES guest's steps, through its GHCB client. */
function* sevStep(client: GhcbClient, cpu: ScriptedCpu, st: Step, rec: StepRecord, version: number): Gen {
  const v = rec.values;
  const regs = (r: { eax: number; ebx: number; ecx: number; edx: number; regsValid: boolean }): void => {
    v['eax'] = BigInt(r.eax);
    v['ebx'] = BigInt(r.ebx);
    v['ecx'] = BigInt(r.ecx);
    v['edx'] = BigInt(r.edx);
    v['regsValid'] = r.regsValid;
  };
  const valued = (r: { result: GhcbResult; value: bigint | number; regsValid: boolean }): void => {
    rec.result = r.result;
    v['value'] = BigInt(r.value);
    v['regsValid'] = r.regsValid;
  };
  switch (st.verb) {
    case 'msr':
      return yield* msrStep(client, st.args, rec);
    case 'cpuid': {
      const r = yield* client.cpuid(st.args.fn, st.args.index, st.args.xcr0);
      rec.result = r.result;
      return regs(r);
    }
    case 'io-out':
      rec.result = yield* client.ioOut(st.args.port, st.args.size, st.args.value);
      return;
    case 'io-in':
      return valued(yield* client.ioIn(st.args.port, st.args.size));
    case 'outs':
      rec.result = yield* client.ioOutString(st.args.port, st.args.size, st.args.hex, st.args.scratch);
      return;
    case 'ins': {
      const r = yield* client.ioInString(st.args.port, st.args.size, st.args.count, st.args.scratch);
      rec.result = r.result;
      v['data'] = r.data;
      return;
    }
    case 'mmio-read': {
      const r = yield* client.mmioRead(st.args.gpa, st.args.len, st.args.scratch);
      rec.result = r.result;
      v['data'] = r.data;
      return;
    }
    case 'mmio-write':
      rec.result = yield* client.mmioWrite(st.args.gpa, st.args.hex, st.args.scratch);
      return;
    case 'rdmsr':
      return valued(yield* client.rdmsr(st.args.index));
    case 'wrmsr':
      rec.result = yield* client.wrmsr(st.args.index, st.args.value);
      return;
    case 'rdtsc':
      return valued(yield* client.rdtsc());
    case 'rdtscp': {
      const r = yield* client.rdtscp();
      v['aux'] = BigInt(r.aux);
      return valued(r);
    }
    case 'rdpmc':
      return valued(yield* client.rdpmc(st.args.counter));
    case 'vmmcall':
      return valued(yield* client.vmmcall(st.args.nr, st.args.args, st.args.cpl));
    case 'invd':
      rec.result = yield* client.invd();
      return;
    case 'wbinvd':
      rec.result = yield* client.wbinvd();
      return;
    case 'monitor':
      rec.result = yield* client.monitor(st.args.rax, st.args.rcx, st.args.rdx);
      return;
    case 'mwait':
      rec.result = yield* client.mwait(st.args.rax, st.args.rcx);
      return;
    case 'dr7-read':
      return valued(yield* client.readDr7());
    case 'dr7-write':
      rec.result = yield* client.writeDr7(st.args.value);
      return;
    case 'nmi-complete':
      rec.result = yield* client.nmiComplete();
      return;
    case 'ap-hlt-loop': {
      const r = yield* client.apHltLoop();
      rec.result = r.result;
      v['woken'] = r.woken;
      return;
    }
    case 'ap-jump-table': {
      if (st.args.op === 'set') {
        rec.result = yield* client.apJumpTableSet(st.args.gpa);
        return;
      }
      const r = yield* client.apJumpTableGet();
      rec.result = r.result;
      v['value'] = r.value;
      return;
    }
    case 'hv-features': {
      const r = yield* client.hvFeatures();
      rec.result = r.result;
      v['value'] = r.features;
      return;
    }
    case 'term-request':
      rec.result = yield* client.termRequest(st.args.set, st.args.code);
      return;
    case 'unsupported':
      rec.result = yield* client.unsupportedEvent(st.args.info1, st.args.info2);
      return;
    case 'raw':
      rec.result = yield* rawStep(client, cpu, st.args, version);
      return;
    case 'write-memory':
      rec.result = { kind: 'ok', info1: 0n, info2: 0n };
      return yield* writeMemory(cpu, st.args.gpa, st.args.hex);
    case 'print':
      for (const ch of new TextEncoder().encode(st.args)) {
        const r = yield* client.ioOut(0x3f8, 1, ch);
        if (rec.result === undefined || r.kind !== 'ok') rec.result = r;
      }
      return;
    default: {
      const never: never = st;
      throw new Error(`unknown verb ${JSON.stringify(never)}`);
    }
  }
}

/** An MSR-protocol step: the raw response, and its decoded value when the response code fits. */
function* msrStep(client: GhcbClient, req: Extract<Step, { verb: 'msr' }>['args'], rec: StepRecord): Gen {
  const v = rec.values;
  const ask = function* (request: bigint, expected: number | undefined): Gen<bigint | undefined> {
    const response = yield* client.msrProtocol(request);
    v['response'] = response;
    const ok = expected !== undefined && ghcbMsrInfo(response) === expected;
    rec.result = ok
      ? { kind: 'ok', info1: 0n, info2: 0n }
      : { kind: 'vmm-error', info1: response, info2: 0n };
    return ok ? response : undefined;
  };
  switch (req.kind) {
    case 'sev-info': {
      const r = yield* ask(BigInt(GHCB_MSR_SEV_INFO_REQ), GHCB_MSR_SEV_INFO_RESP);
      if (r === undefined) {
        v['value'] = 'none';
        return;
      }
      const d = decodeGhcbMsrSevInfo(r);
      v['max'] = BigInt(d.max);
      v['min'] = BigInt(d.min);
      v['cbit'] = BigInt(d.cbit);
      v['value'] = ghcbMsrData(r);
      return;
    }
    case 'cpuid': {
      const r = yield* ask(ghcbMsrCpuidReq(req.fn, req.reg), GHCB_MSR_CPUID_RESP);
      v['value'] = r === undefined ? 'none' : BigInt(ghcbMsrCpuidRespValue(r));
      return;
    }
    case 'hv-features': {
      const r = yield* ask(BigInt(GHCB_MSR_HV_FT_REQ), GHCB_MSR_HV_FT_RESP);
      v['value'] = r === undefined ? 'none' : ghcbMsrData(r);
      return;
    }
    case 'ap-reset-hold': {
      const r = yield* ask(BigInt(GHCB_MSR_AP_RESET_HOLD_REQ), GHCB_MSR_AP_RESET_HOLD_RESP);
      v['value'] = r === undefined ? 'none' : ghcbMsrData(r);
      return;
    }
    case 'terminate':
      // A guest does not expect an answer; the result says the hypervisor let it run on.
      yield* ask(ghcbMsrTermReq(req.set, req.code), undefined);
      return;
    case 'raw': {
      const response = yield* client.msrProtocol(req.value);
      v['response'] = response;
      v['value'] = ghcbMsrData(response);
      rec.result = { kind: 'ok', info1: 0n, info2: 0n };
      return;
    }
    default: {
      const never: never = req;
      throw new Error(`unknown MSR request ${JSON.stringify(never)}`);
    }
  }
}

/**
 * A hostile request: the whole GHCB page built from the step (zeros, the fields and their valid
 * bits, overrides, raw bytes, usage and version), written, then VMGEXIT with the GHCB MSR holding
 * the GHCB's GPA or the step's `ghcbMsr`; the answer is read back from the page.
 */
function* rawStep(
  client: GhcbClient,
  cpu: ScriptedCpu,
  a: Extract<Step, { verb: 'raw' }>['args'],
  version: number,
): Gen<GhcbResult> {
  const page = new Uint8Array(GHCB_SIZE);
  const view = new DataView(page.buffer);
  const setValid = (offset: number, on: boolean): void => {
    const idx = offset >> 3;
    const at = GHCB_OFF_VALID_BITMAP + (idx >> 3);
    page[at] = on ? page[at]! | (1 << (idx & 7)) : page[at]! & ~(1 << (idx & 7));
  };
  const set = (offset: number, value: bigint): void => {
    if (offset === GHCB_OFF_CPL) page[offset] = Number(value & 0xffn);
    else view.setBigUint64(offset, value, true);
    setValid(offset, true);
  };
  for (const [name, value] of Object.entries(a.fields ?? {}))
    if (value !== undefined) set(FIELD_OFFSET.get(name)!, value);
  set(GHCB_OFF_SW_EXIT_CODE, a.exitCode);
  set(GHCB_OFF_SW_EXIT_INFO_1, a.info1 ?? 0n);
  set(GHCB_OFF_SW_EXIT_INFO_2, a.info2 ?? 0n);
  for (const name of a.valid?.set ?? []) setValid(FIELD_OFFSET.get(name)!, true);
  for (const name of a.valid?.clear ?? []) setValid(FIELD_OFFSET.get(name)!, false);
  for (const b of a.bytes ?? []) page.set(b.hex.subarray(0, GHCB_SIZE - b.offset), b.offset);
  view.setUint16(GHCB_OFF_PROTOCOL_VERSION, a.version ?? version, true);
  view.setUint32(GHCB_OFF_USAGE, a.usage ?? 0, true);
  yield* client.writeRaw(0, page);
  cpu.ghcbMsr = a.ghcbMsr ?? BigInt(client.ghcbGpa);
  yield* cpu.vmgexit();
  client.register();
  const back = yield* client.readRaw(GHCB_OFF_SW_EXIT_INFO_1, 16);
  const bv = new DataView(back.buffer, back.byteOffset, 16);
  return verifyExceptionInfo(bv.getBigUint64(0, true), bv.getBigUint64(8, true));
}

const OK: GhcbResult = Object.freeze({ kind: 'ok', info1: 0n, info2: 0n });

/** An unprotected guest's steps: the plain instructions (KVM emulates them, or they exit). */
function* plainStep(cpu: ScriptedCpu, st: Step, rec: StepRecord): Gen {
  const v = rec.values;
  rec.result = OK;
  switch (st.verb) {
    case 'cpuid': {
      const r = yield* cpu.cpuid(st.args.fn, st.args.index);
      for (const k of ['eax', 'ebx', 'ecx', 'edx'] as const) v[k] = BigInt(r[k]);
      return;
    }
    case 'io-out':
      return yield* cpu.out(st.args.port, st.args.size, st.args.value);
    case 'io-in':
      v['value'] = BigInt(yield* cpu.in(st.args.port, st.args.size));
      return;
    case 'mmio-read': {
      const n = st.args.len;
      if (n !== 1 && n !== 2 && n !== 4 && n !== 8)
        throw new RangeError(`a plain load is 1, 2, 4 or 8 bytes, not ${n}`);
      v['data'] = leBytes(yield* cpu.load(st.args.gpa, n), n);
      return;
    }
    case 'mmio-write': {
      const n = st.args.hex.length;
      if (n !== 1 && n !== 2 && n !== 4 && n !== 8)
        throw new RangeError(`a plain store is 1, 2, 4 or 8 bytes, not ${n}`);
      return yield* cpu.store(st.args.gpa, n, leValue(st.args.hex));
    }
    case 'rdmsr':
      v['value'] = yield* cpu.rdmsr(st.args.index);
      return;
    case 'wrmsr':
      return yield* cpu.wrmsr(st.args.index, st.args.value);
    case 'vmmcall':
      v['value'] = yield* cpu.vmmcall(st.args.nr, ...st.args.args);
      return;
    case 'write-memory':
      return yield* writeMemory(cpu, st.args.gpa, st.args.hex);
    case 'print':
      for (const ch of new TextEncoder().encode(st.args)) yield* cpu.out(0x3f8, 1, ch);
      return;
    default:
      throw new Error(`${st.verb} needs an SEV-ES guest`);
  }
}

/**
 * Compile one vCPU's steps into a guest program for the scenario's machine (`sev`: its
 * machine.sev); steps with host actions begin with a HLT.
 */
export function compileProgram(p: VcpuProgram, sev: Scenario['machine']['sev']): CompiledProgram {
  const steps = p.steps;
  const records: StepRecord[] = steps.map((st, index) => ({
    index,
    verb: st.verb,
    started: false,
    finished: false,
    values: {},
    vmgexits: 0,
  }));
  let current = -1;
  let hostStep: number | undefined;
  const program: GuestProgram = function* (cpu) {
    const client = sev ? new GhcbClient(cpu, p.ghcb, { version: sev.ghcbVersion }) : undefined;
    if (client) {
      const backup =
        sev && p.backupGhcb
          ? new GhcbClient(cpu, p.ghcb, { version: sev.ghcbVersion, fresh: false })
          : undefined;
      cpu.vcHandler = ghcbVcHandler(client, { onVmmError: 'throw', ...(backup ? { backup } : {}) });
      if (p.register) client.register();
    }
    for (const [i, st] of steps.entries()) {
      current = i;
      const rec = records[i]!;
      if (st.host?.length) {
        hostStep = i;
        yield* cpu.hlt();
      }
      rec.started = true;
      try {
        const body = client
          ? sevStep(client, cpu, st, rec, sev ? sev.ghcbVersion : 1)
          : plainStep(cpu, st, rec);
        yield* counting(body, rec);
      } catch (e) {
        if (e instanceof GuestException) {
          rec.result = {
            kind: 'exception',
            vector: e.vector,
            ...(e.errorCode !== undefined ? { errorCode: e.errorCode } : {}),
          };
        } else {
          rec.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        }
      }
      rec.finished = true;
    }
    current = steps.length;
  };
  return {
    program,
    records,
    currentStep: () => current,
    takeHostStep: () => {
      const i = hostStep;
      hostStep = undefined;
      return i;
    },
  };
}
