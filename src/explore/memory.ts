/**
 * The guest's memslots and the host mappings behind them, for the explorer's memory map: each
 * memslot with the state of its host pages in runs (anonymous, file, lazy pages still missing or
 * populated, pages past a file's end, unmapped). What the VMM knows of its own process.
 */
import type { Vmm } from '../vmm/vmm.js';
import type { MemslotView } from './model.js';

const PAGE = 4096;
const hex = (n: number): string => `0x${n.toString(16)}`;

/** The page's state as the memory map shows it. */
function pageState(vmm: Vmm, hva: number): string {
  const d = vmm.ram.memory.describe(hva);
  switch (d.state) {
    case 'missing':
      return d.populated ? 'populated' : 'missing';
    case 'file':
      return d.beyondEof ? 'beyond-eof' : 'file';
    default:
      return d.state;
  }
}

/** Every memslot of the VMM's RAM, its pages' states in runs. */
export function memslotsOf(vmm: Vmm): MemslotView[] {
  return vmm.ram.regions.map((r) => {
    const host: { from: string; pages: number; state: string }[] = [];
    for (let off = 0; off < r.size; off += PAGE) {
      const state = pageState(vmm, r.hva + off);
      const last = host.at(-1);
      if (last && last.state === state) last.pages++;
      else host.push({ from: hex(r.gpa + off), pages: 1, state });
    }
    return {
      slot: r.slot,
      name: r.name,
      backing: r.backing,
      gpa: hex(r.gpa),
      size: hex(r.size),
      hva: hex(r.hva),
      flags: 0,
      host,
    };
  });
}
