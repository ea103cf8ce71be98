/**
 * The differential runner: a generated program (x86-gen.ts) on any backend of the fd interface
 * (the machine's /dev/kvm, the model KVM with the x86 interpreter), its outcome (the exits, the
 * registers, selected sregs, the data and stack pages), the comparison of two outcomes, and the
 * shrinker that reduces a mismatching program to a minimal one (drop items one at a time, zero
 * immediates, zero registers) and reports it with its disassembly and both outcomes.
 */
import { isDeepStrictEqual } from 'node:util';
import { HostVcpuFd } from '../../src/hostkvm/index.js';
import { Errno } from '../../src/uapi/errno.js';
import type { VcpuFd, VmFd } from '../../src/uapi/kvm-fd.js';
import type { KvmRegs } from '../../src/uapi/regs.js';
import type { KvmSegment, KvmSregs } from '../../src/uapi/sregs.js';
import { GuestRam } from '../../src/vmm/index.js';
import { flatSegment, identityPageTables, type MemoryWrite } from '../../src/vmm/long-mode-entry.js';
import type { GuestPlatform } from '../guests/corpus.js';
import {
  assemble,
  BITS,
  disassemble,
  GPR_NAMES,
  gdt,
  generate,
  type Item,
  idtLimit,
  interruptTables,
  LAYOUT,
  MSRS,
  type Program,
  SEG_NAMES,
  segmentsOf,
} from './x86-gen.js';

/** What a run ends in, in comparable form (numbers as hex strings). */
export interface Outcome {
  exits: string[];
  regs: Record<string, string>;
  sregs: Record<string, string>;
  /** The data and stack pages as hex. */
  data: string;
  stack: string;
  /** XMM0-15 (KVM_GET_FPU) as hex. */
  xmm: string;
  /** The page-table pages as hex (the A/D bits the walks set). */
  tables: string;
  /** The GDT page as hex (the accessed bits segment loads set). */
  gdt: string;
}

/** A VM with one vCPU and the RAM, reused for every program. */
export interface Machine {
  run(p: Program): Outcome | string;
  close(): void;
}

const hex = (v: number | bigint): string => `0x${v.toString(16)}`;
/** CR0.PE | CR0.MP | CR0.ET | CR0.NE; CR0.PG. */
const CR0_PROTECTED = 0x33n;
const CR0_PG = 0x8000_0000n;
/** CR4.PSE, CR4.PAE; CR4.OSFXSR: SSE instructions run (else #UD). */
const CR4_PSE = 0x10n;
const CR4_PAE = 0x20n;
const CR4_OSFXSR = 0x200n;
/** EFER.LME | EFER.LMA. */
const EFER_LONG = 0x500n;
/** The page-table pages (PML4/PDPT/PD, or PD/PT, or PDPT/PD/PT). */
const TABLE_PAGES = 3;
/** At most this many exits a run (the OUTs, then the HLT). */
const MAX_EXITS = 64;

function check<T>(what: string, v: T | Errno): T {
  if (v instanceof Errno) throw new Error(`${what}: ${v}`);
  return v;
}

/** One VM with its RAM and vCPU 0, ready to load programs. */
interface Vm {
  vm: VmFd;
  ram: GuestRam;
  vcpu: VcpuFd;
  close(): void;
}

function createVm(p: GuestPlatform): Vm {
  const vm: VmFd = check('KVM_CREATE_VM', p.kvm.createVm());
  const ram = new GuestRam(p.memory);
  let vcpu: VcpuFd | undefined;
  const close = (): void => {
    vcpu?.close();
    vm.close();
    ram.destroy();
  };
  try {
    const e = ram.add(vm, 0, { gpa: 0, size: LAYOUT.ram });
    if (e) throw new Error(`RAM: ${e.message}`);
    vcpu = check('KVM_CREATE_VCPU', vm.createVcpu(0));
    const cpuid = check('KVM_GET_SUPPORTED_CPUID', p.kvm.getSupportedCpuid(256));
    check('KVM_SET_CPUID2', vcpu.setCpuid2(cpuid));
    if (vcpu instanceof HostVcpuFd) vcpu.timeoutMs = 1000;
  } catch (err) {
    close();
    throw err;
  }
  return { vm, ram, vcpu, close };
}

/** The whole RAM a program starts with: code, data, stack, GDT, interrupt tables, page tables. */
function image(prog: Program): Uint8Array {
  const ram = new Uint8Array(LAYOUT.ram);
  ram.set(assemble(prog.items), LAYOUT.code);
  ram.set(prog.data, LAYOUT.data);
  ram.set(prog.stack, LAYOUT.stack);
  ram.set(gdt(prog.mode), LAYOUT.gdt);
  for (const t of [...interruptTables(prog.mode), ...pageTables(prog)]) ram.set(t.bytes, t.gpa);
  return ram;
}

/**
 * A machine on `p` (throws on setup errors). A run that does not end in HLT (MMIO, a shutdown,
 * an emulation failure, too many exits) leaves KVM with work to finish at the next KVM_RUN, so
 * the next program gets a new VM.
 */
export function openMachine(p: GuestPlatform): Machine {
  let m = createVm(p);
  let dirty = false;
  return {
    run(prog) {
      if (dirty) {
        m.close();
        m = createVm(p);
        dirty = false;
      }
      const { ram, vcpu: v } = m;
      const written = ram.write(0, image(prog));
      if (written) throw new Error(`RAM: ${written.message}`);
      const s0 = check('KVM_GET_SREGS', v.getSregs());
      check('KVM_SET_SREGS', v.setSregs(entrySregs(s0, prog)));
      // The MSRs a program may write, zero.
      const msrs = MSRS.map((index) => ({ index, data: 0n }));
      if (check('KVM_SET_MSRS', v.setMsrs(msrs)) !== msrs.length) throw new Error('KVM_SET_MSRS refused one');
      // XMM0-15 zero (the program loads them from its data page).
      const fpu = check('KVM_GET_FPU', v.getFpu());
      check('KVM_SET_FPU', v.setFpu({ ...fpu, xmm: new Uint8Array(256) }));
      const regs0 = check('KVM_GET_REGS', v.getRegs());
      const regs: KvmRegs = { ...regs0, ...prog.regs, rip: BigInt(LAYOUT.code) };
      check('KVM_SET_REGS', v.setRegs(regs));
      const exits: string[] = [];
      for (let i = 0; i < MAX_EXITS; i++) {
        const r = v.run();
        if (r.kind === 'IoOut') {
          exits.push(`out ${hex(r.port)} size ${r.size} x${r.count} ${Buffer.from(r.data).toString('hex')}`);
          continue;
        }
        if (r.kind === 'IoIn') {
          r.data.fill(0xa5);
          exits.push(`in ${hex(r.port)} size ${r.size} x${r.count}`);
          continue;
        }
        if (r.kind === 'Failed') exits.push(`Failed ${r.error}`);
        else if (r.kind === 'InternalError')
          exits.push(`InternalError ${r.suberror} ${r.data.map(hex).join(' ')}`);
        else exits.push(r.kind);
        break;
      }
      dirty = exits.at(-1) !== 'Hlt';
      const out = check('KVM_GET_REGS', v.getRegs());
      const s = check('KVM_GET_SREGS', v.getSregs());
      const outRegs: Record<string, string> = {};
      for (const k of [...GPR_NAMES, 'rip', 'rflags'] as const) outRegs[k] = hex(out[k]);
      const sregs: Record<string, string> = {
        cr0: hex(s.cr0),
        cr2: hex(s.cr2),
        cr3: hex(s.cr3),
        cr4: hex(s.cr4),
        efer: hex(s.efer),
      };
      // Each segment register whole: selector, base, limit and attributes.
      for (const k of SEG_NAMES) {
        const g = s[k];
        sregs[k] =
          `${hex(g.selector)} base ${hex(g.base)} limit ${hex(g.limit)} type ${g.type} s${g.s} p${g.present}` +
          ` dpl${g.dpl} db${g.db} l${g.l} g${g.g}`;
      }
      sregs.gdt = `${hex(s.gdt.base)}/${hex(s.gdt.limit)}`;
      sregs.idt = `${hex(s.idt.base)}/${hex(s.idt.limit)}`;
      const page = (gpa: number): string => {
        const b = new Uint8Array(0x1000);
        const err = ram.read(gpa, b);
        if (err) throw new Error(`read ${hex(gpa)}: ${err.message}`);
        return Buffer.from(b).toString('hex');
      };
      const xmm = Buffer.from(check('KVM_GET_FPU', v.getFpu()).xmm).toString('hex');
      const tables = Array.from({ length: TABLE_PAGES }, (_, k) => page(LAYOUT.pml4 + 0x1000 * k)).join('');
      return {
        exits,
        regs: outRegs,
        sregs,
        data: page(LAYOUT.data),
        stack: page(LAYOUT.stack),
        xmm,
        tables,
        gdt: page(LAYOUT.gdt),
      };
    },
    close: () => m.close(),
  };
}

/** The page tables of a program's mode, identity-mapping the RAM (none in real and unpaged protected mode). */
function pageTables(p: Program): MemoryWrite[] {
  if (p.mode === 'long') return identityPageTables(LAYOUT.pml4);
  if (p.mode !== 'paged') return [];
  const table = (entries: (number | bigint)[], wide: boolean): Uint8Array => {
    const b = new Uint8Array(entries.length * (wide ? 8 : 4));
    const dv = new DataView(b.buffer);
    entries.forEach((e, i) => {
      if (wide) dv.setBigUint64(8 * i, BigInt(e), true);
      else dv.setUint32(4 * i, Number(e), true);
    });
    return b;
  };
  // 4 KiB pages over the RAM: present, writable.
  const ptes = Array.from({ length: LAYOUT.ram / 0x1000 }, (_, i) => i * 0x1000 + 3);
  const pd = LAYOUT.pml4;
  if (p.paging === '4m') return [{ gpa: pd, bytes: table([0x83], false) }];
  if (p.paging === '4k')
    return [
      { gpa: pd, bytes: table([pd + 0x1000 + 3], false) },
      { gpa: pd + 0x1000, bytes: table(ptes, false) },
    ];
  // PAE: the PDPT (present only: its RW bit is reserved), a PD, a PT.
  return [
    { gpa: pd, bytes: table([pd + 0x1000 + 1], true) },
    { gpa: pd + 0x1000, bytes: table([pd + 0x2000 + 3], true) },
    { gpa: pd + 0x2000, bytes: table(ptes, true) },
  ];
}

/** A real-mode segment: base = selector × 16, 64 KiB. */
function realSegment(selector: number, code: boolean): KvmSegment {
  return {
    base: BigInt(selector << 4),
    limit: 0xffff,
    selector,
    type: code ? 0xb : 3,
    present: 1,
    dpl: 0,
    s: 1,
    l: 0,
    db: 0,
    g: 0,
    avl: 0,
    unusable: 0,
  };
}

/** The special registers a program starts with: its mode's CR0/CR3/CR4/EFER and segments. */
function entrySregs(s: KvmSregs, p: Program): KvmSregs {
  const segs = segmentsOf(p.mode);
  const seg = (name: (typeof SEG_NAMES)[number]): KvmSegment => {
    const sel = segs[name].selector;
    if (p.mode === 'real') return realSegment(sel, name === 'cs');
    const flat = flatSegment(sel, name === 'cs');
    // 32-bit code: L clear, D set.
    return p.mode === 'long' || name !== 'cs' ? flat : { ...flat, l: 0, db: 1 };
  };
  const segments = Object.fromEntries(SEG_NAMES.map((n) => [n, seg(n)])) as Record<
    (typeof SEG_NAMES)[number],
    KvmSegment
  >;
  const control =
    p.mode === 'long'
      ? { cr0: CR0_PROTECTED | CR0_PG, cr3: BigInt(LAYOUT.pml4), cr4: CR4_PAE | CR4_OSFXSR, efer: EFER_LONG }
      : p.mode === 'real'
        ? { cr0: 0x10n, cr3: 0n, cr4: CR4_OSFXSR, efer: 0n }
        : p.mode === 'protected'
          ? { cr0: CR0_PROTECTED, cr3: 0n, cr4: CR4_OSFXSR, efer: 0n }
          : {
              cr0: CR0_PROTECTED | CR0_PG,
              cr3: BigInt(LAYOUT.pml4),
              cr4: CR4_OSFXSR | (p.paging === 'pae' ? CR4_PAE : p.paging === '4m' ? CR4_PSE : 0n),
              efer: 0n,
            };
  const table = { base: BigInt(LAYOUT.gdt), limit: gdt(p.mode).length - 1 };
  const idt = { base: BigInt(p.mode === 'real' ? 0 : LAYOUT.idt), limit: idtLimit(p.mode) };
  // TR and LDTR selectors for STR and SLDT to store (nothing loads them).
  const tr = { ...s.tr, selector: 0x40 };
  const ldt = { ...s.ldt, selector: 0x48 };
  return { ...s, ...segments, ...control, cr2: 0n, gdt: table, idt, tr, ldt };
}

/**
 * Why `m` cannot run 32-bit code with paging, if it cannot: a HLT under each 32-bit paging format
 * must halt with CR0.PG still set. (This machine's kvm_pvm drops CR0.PG from KVM_SET_SREGS outside
 * long mode and shuts the guest down at its first instruction; a guest's own MOV to CR0 setting PG
 * shuts it down there too.)
 */
export function noPaging32(m: Machine): string | undefined {
  for (const paging of ['4k', '4m', 'pae'] as const) {
    const o = m.run({ ...generate(0, 'paged'), paging, items: [] });
    if (typeof o === 'string') return o;
    const pg = BigInt(o.sregs.cr0!) & CR0_PG;
    if (o.exits.join() !== 'Hlt' || !pg)
      return `/dev/kvm cannot run 32-bit code with ${paging} paging (a HLT: ${o.exits.join(', ')}, CR0 ${o.sregs.cr0})`;
  }
  return undefined;
}

/** What differs between two outcomes, one line each (empty: equal). */
export function differences(a: Outcome, b: Outcome): string[] {
  const out: string[] = [];
  if (!isDeepStrictEqual(a.exits, b.exits)) out.push(`exits: ${a.exits.join(', ')} ≠ ${b.exits.join(', ')}`);
  for (const group of ['regs', 'sregs'] as const) {
    for (const k of Object.keys(a[group])) {
      if (a[group][k] !== b[group][k]) out.push(`${k}: ${a[group][k]} ≠ ${b[group][k]}`);
    }
  }
  for (let r = 0; r < 16; r++) {
    const x = a.xmm.slice(32 * r, 32 * r + 32);
    const y = b.xmm.slice(32 * r, 32 * r + 32);
    if (x !== y) out.push(`xmm${r}: ${x} ≠ ${y}`);
  }
  for (const [name, base] of [
    ['data', LAYOUT.data],
    ['stack', LAYOUT.stack],
    ['tables', LAYOUT.pml4],
    ['gdt', LAYOUT.gdt],
  ] as const) {
    const x = a[name];
    const y = b[name];
    if (x === y) continue;
    const diffs: string[] = [];
    for (let i = 0; i < x.length; i += 2) {
      if (x.slice(i, i + 2) !== y.slice(i, i + 2) && diffs.length < 16) {
        diffs.push(`${hex(base + i / 2)}: ${x.slice(i, i + 2)} ≠ ${y.slice(i, i + 2)}`);
      }
    }
    out.push(`${name} page: ${diffs.join(', ')}`);
  }
  return out;
}

/** Run on both; the differences (an error on one side counts as one). */
export function compare(real: Machine, model: Machine, p: Program): string[] {
  const a = real.run(p);
  const b = model.run(p);
  if (typeof a === 'string' || typeof b === 'string') return a === b ? [] : [`${a} ≠ ${b}`];
  return differences(a, b);
}

/**
 * Shrink a mismatching program: drop items one at a time, then zero immediates (then 1), then
 * zero the initial registers, each change kept while the two backends still disagree.
 */
export function shrink(real: Machine, model: Machine, p: Program): Program {
  const fails = (q: Program): boolean => compare(real, model, q).length > 0;
  let cur = p;
  for (let progress = true; progress; ) {
    progress = false;
    for (let i = cur.items.length - 1; i >= 0; i--) {
      const q = { ...cur, items: cur.items.filter((_, k) => k !== i) };
      if (fails(q)) {
        cur = q;
        progress = true;
      }
    }
    for (let i = 0; i < cur.items.length; i++) {
      const it = cur.items[i]!;
      if (!it.imm) continue;
      const { at, len } = it.imm;
      const current = it.bytes.slice(at, at + len);
      for (const v of [0, 1]) {
        const imm = Array.from({ length: len }, (_, k) => (k === 0 ? v : 0));
        if (isDeepStrictEqual(imm, current)) break;
        const bytes = [...it.bytes.slice(0, at), ...imm, ...it.bytes.slice(at + len)];
        const items = cur.items.map((x, k): Item => (k === i ? { ...x, bytes } : x));
        const q = { ...cur, items };
        if (fails(q)) {
          cur = q;
          progress = true;
          break;
        }
      }
    }
    for (const r of GPR_NAMES) {
      if (r === 'rsp' || cur.regs[r] === 0n) continue;
      const q = { ...cur, regs: { ...cur.regs, [r]: 0n } };
      if (fails(q)) {
        cur = q;
        progress = true;
      }
    }
  }
  return cur;
}

/** A report of a (shrunk) mismatching program: seed, disassembly, entry registers, both outcomes' differences. */
export function report(real: Machine, model: Machine, p: Program): string {
  const code = assemble(p.items);
  const a = real.run(p);
  const b = model.run(p);
  const regs = Object.entries(p.regs)
    .filter(([k]) => k !== 'rsp')
    .map(([k, v]) => `${k}=${hex(v)}`)
    .join(' ');
  const diff = typeof a === 'string' || typeof b === 'string' ? [`${a} ≠ ${b}`] : differences(a, b);
  return [
    `seed ${p.seed} (${p.mode}${p.paging ? `, ${p.paging} paging` : ''}): /dev/kvm ≠ model (left: /dev/kvm, right: model)`,
    ...disassemble(code, BITS[p.mode]).map((l) => `  ${l}`),
    `  entry: ${regs}`,
    ...diff.map((l) => `  ${l}`),
  ].join('\n');
}
