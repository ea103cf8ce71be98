/**
 * OVMF's GUIDed table at the end of its flash image, as QEMU reads it (hw/i386/pc_sysfw_ovmf.c):
 * the footer GUID 48 bytes before the end, the table's total length (u16) before it, and the
 * entries below, each its data, then a u16 length (data + 18), then its GUID, walked from the top
 * down. A VMM that launches OVMF as an SEV-ES guest needs the SEV-ES reset block from it: the
 * address where application processors start (sev_es_find_reset_vector).
 */

/** The footer GUID 96b582de-1fb2-45f7-baea-a366c55a082d (OVMF_TABLE_FOOTER_GUID). */
export const OVMF_TABLE_FOOTER_GUID = '96b582de-1fb2-45f7-baea-a366c55a082d';
/** The SEV-ES reset block 00f771de-1a7e-4fcb-890e-68c77e2fb44e (SEV_INFO_BLOCK_GUID). */
export const SEV_INFO_BLOCK_GUID = '00f771de-1a7e-4fcb-890e-68c77e2fb44e';

/** One entry of the table: its GUID (text form) and its data. */
export interface OvmfTableEntry {
  readonly guid: string;
  readonly data: Uint8Array;
}

/** A GUID's 16 bytes (little-endian first three fields) in text form. */
export function guidText(b: Uint8Array): string {
  const h = (from: number, to: number, rev: boolean): string => {
    const part = [...b.subarray(from, to)];
    return (rev ? part.reverse() : part).map((x) => x.toString(16).padStart(2, '0')).join('');
  };
  return `${h(0, 4, true)}-${h(4, 6, true)}-${h(6, 8, true)}-${h(8, 10, false)}-${h(10, 16, false)}`;
}

const GUID_SIZE = 16;
const FOOTER_FROM_END = 48;

/**
 * The table of `flash` (the image as it sits below 4 GiB), or a reason it has none: no footer GUID,
 * or lengths that run outside the image.
 */
export function parseOvmfTable(flash: Uint8Array): OvmfTableEntry[] | string {
  const footer = flash.length - FOOTER_FROM_END;
  if (footer < 2 || guidText(flash.subarray(footer, footer + GUID_SIZE)) !== OVMF_TABLE_FOOTER_GUID)
    return 'no OVMF table footer GUID 48 bytes before the end';
  const dv = new DataView(flash.buffer, flash.byteOffset, flash.byteLength);
  const total = dv.getUint16(footer - 2, true) - GUID_SIZE - 2;
  const start = footer - 2 - total;
  if (total < 0 || start < 0)
    return `the OVMF table's length (${total + GUID_SIZE + 2}) runs outside the image`;
  const entries: OvmfTableEntry[] = [];
  for (let top = footer - 2; top > start; ) {
    if (top - GUID_SIZE - 2 < start) return `a truncated OVMF table entry below 0x${top.toString(16)}`;
    const guid = guidText(flash.subarray(top - GUID_SIZE, top));
    const len = dv.getUint16(top - GUID_SIZE - 2, true);
    if (len < GUID_SIZE + 2 || top - len < start)
      return `OVMF table entry ${guid}: length ${len} runs outside the table`;
    entries.push({ guid, data: flash.slice(top - len, top - GUID_SIZE - 2) });
    top -= len;
  }
  return entries;
}

/** The SEV-ES AP reset address from the table (SevInfoBlock.reset_addr), or undefined when absent. */
export function sevEsResetAddress(entries: readonly OvmfTableEntry[]): number | undefined {
  const e = entries.find((x) => x.guid === SEV_INFO_BLOCK_GUID);
  if (!e || e.data.length < 4) return undefined;
  return new DataView(e.data.buffer, e.data.byteOffset, 4).getUint32(0, true);
}
