/**
 * The guest's memslots and the host mappings behind them, for the explorer's memory map: each
 * memslot with the state of its host pages in runs (anonymous, file, lazy pages still missing or
 * populated, pages past a file's end, unmapped), what the VMM knows of its own process; and, for
 * an encrypted guest of the model, which pages it uses privately (the memory controller's debug view).
 */
import type { Vmm } from '../vmm/vmm.js';
import type { MemslotView, PageRun } from './model.js';

const PAGE = 4096;
const hex = (n: number): string => `0x${n.toString(16)}`;

/** Pages from `gpa` on, `size` bytes, in runs of one state (`stateOf` of each page's GPA). */
function runs(gpa: number, size: number, stateOf: (gpa: number) => string): PageRun[] {
  const out: { from: string; pages: number; state: string }[] = [];
  for (let off = 0; off < size; off += PAGE) {
    const state = stateOf(gpa + off);
    const last = out.at(-1);
    if (last && last.state === state) last.pages++;
    else out.push({ from: hex(gpa + off), pages: 1, state });
  }
  return out;
}

/** Every memslot of the VMM's RAM, its pages' states in runs (and their encryption, once there is any). */
export function memslotsOf(vmm: Vmm): MemslotView[] {
  return vmm.ram.regions.map((r) => {
    const host = runs(r.gpa, r.size, (gpa) => vmm.hostPageState(gpa) ?? 'unmapped');
    const encrypted = vmm.debugPagePrivate(r.gpa) !== undefined;
    const encryption = encrypted
      ? runs(r.gpa, r.size, (gpa) => (vmm.debugPagePrivate(gpa) ? 'private' : 'shared'))
      : undefined;
    return {
      slot: r.slot,
      name: r.name,
      backing: r.backing,
      gpa: hex(r.gpa),
      size: hex(r.size),
      hva: hex(r.hva),
      flags: 0,
      host,
      ...(encryption ? { encryption } : {}),
    };
  });
}
