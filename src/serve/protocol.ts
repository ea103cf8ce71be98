/**
 * The wire format between the /dev/kvm shim and `sevbox serve`, version 1 (docs/kvm-shim-protocol.md):
 * a 16-byte header, then the payload; replies carry the request's op with bit 15 set and start with
 * an i64 result (>= 0 the call's value, < 0 a negative errno). Decoding never throws: a malformed
 * message is a value the server answers with EINVAL (or drops the connection for a bad header).
 */

export const PROTOCOL_MAGIC = 0x58425653; // 'SVBX'
export const PROTOCOL_VERSION = 1;
export const HEADER_SIZE = 16;
/** Bit 15 of op: a reply. */
export const REPLY = 0x8000;
/** The largest payload the server accepts (a dirty bitmap of a 64 GiB slot is 2 MiB). */
export const MAX_PAYLOAD = 64 << 20;

export const OP_HELLO = 1;
export const OP_OPEN = 2;
export const OP_IOCTL = 3;
export const OP_CLOSE = 4;
export const OP_MEMFD = 5;
export const OP_MUNMAP = 6;
export const OP_GETPARAM = 7;
export const OP_CPUID = 8;
export const OP_KICK = 9;

/** OPEN's `which`. */
export const OPEN_KVM = 1;
export const OPEN_SEV = 2;

/** A region's flags: the kernel reads it (IN), writes it (OUT). */
export const REGION_IN = 1;
export const REGION_OUT = 2;

export interface Header {
  readonly op: number;
  readonly handle: number;
  readonly len: number;
}

/** The header at the start of `b`, or why it is not one. */
export function decodeHeader(b: Uint8Array): Header | string {
  if (b.length < HEADER_SIZE) return `short header (${b.length} bytes)`;
  const v = new DataView(b.buffer, b.byteOffset, HEADER_SIZE);
  const magic = v.getUint32(0, true);
  if (magic !== PROTOCOL_MAGIC) return `bad magic 0x${magic.toString(16)}`;
  const version = v.getUint16(4, true);
  if (version !== PROTOCOL_VERSION)
    return `protocol version ${version}, this server speaks ${PROTOCOL_VERSION}`;
  const len = v.getUint32(12, true);
  if (len > MAX_PAYLOAD) return `payload of ${len} bytes`;
  return { op: v.getUint16(6, true), handle: v.getUint32(8, true), len };
}

/** A whole message: header and payload. */
export function encodeMessage(op: number, handle: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(HEADER_SIZE + payload.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, PROTOCOL_MAGIC, true);
  v.setUint16(4, PROTOCOL_VERSION, true);
  v.setUint16(6, op, true);
  v.setUint32(8, handle >>> 0, true);
  v.setUint32(12, payload.length, true);
  b.set(payload, HEADER_SIZE);
  return b;
}

/** A reply's payload: the i64 result, then `rest`. */
export function replyPayload(result: number, ...rest: Uint8Array[]): Uint8Array {
  const n = rest.reduce((a, r) => a + r.length, 0);
  const b = new Uint8Array(8 + n);
  new DataView(b.buffer).setBigInt64(0, BigInt(result), true);
  let at = 8;
  for (const r of rest) {
    b.set(r, at);
    at += r.length;
  }
  return b;
}

/** One struct behind a pointer inside an ioctl's argument. */
export interface Region {
  readonly addr: bigint;
  readonly len: number;
  readonly flags: number;
  /** The client's bytes (IN regions), else empty. */
  readonly bytes: Uint8Array;
}

/** IOCTL's request payload. */
export interface IoctlRequest {
  readonly cmd: number;
  readonly arg: bigint;
  /** The bytes at `arg` the ioctl reads (short when the client does not have them). */
  readonly input: Uint8Array;
  readonly regions: readonly Region[];
}

const IOCTL_FIXED = 24;
const REGION_HEADER = 16;

export function decodeIoctlRequest(p: Uint8Array): IoctlRequest | string {
  if (p.length < IOCTL_FIXED) return `IOCTL payload of ${p.length} bytes`;
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const cmd = v.getUint32(0, true);
  const nregions = v.getUint32(4, true);
  const arg = v.getBigUint64(8, true);
  const inLen = v.getUint32(16, true);
  let at = IOCTL_FIXED + inLen;
  if (at > p.length) return `IOCTL in_len ${inLen} past the payload`;
  const input = p.subarray(IOCTL_FIXED, at);
  const regions: Region[] = [];
  for (let i = 0; i < nregions; i++) {
    if (at + REGION_HEADER > p.length) return `IOCTL region ${i} past the payload`;
    const addr = v.getBigUint64(at, true);
    const len = v.getUint32(at + 8, true);
    const flags = v.getUint32(at + 12, true);
    at += REGION_HEADER;
    const n = flags & REGION_IN ? len : 0;
    if (at + n > p.length) return `IOCTL region ${i} bytes past the payload`;
    regions.push({ addr, len, flags, bytes: p.subarray(at, at + n) });
    at += n;
  }
  return { cmd, arg, input, regions };
}

/** IOCTL's reply payload after the result: out_len, nregions, the out bytes, then the OUT regions. */
export function ioctlReplyBody(
  out: Uint8Array,
  regions: readonly { addr: bigint; bytes: Uint8Array }[],
): Uint8Array {
  const size = 8 + out.length + regions.reduce((n, r) => n + REGION_HEADER + r.bytes.length, 0);
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  v.setUint32(0, out.length, true);
  v.setUint32(4, regions.length, true);
  b.set(out, 8);
  let at = 8 + out.length;
  for (const r of regions) {
    v.setBigUint64(at, r.addr, true);
    v.setUint32(at + 8, r.bytes.length, true);
    b.set(r.bytes, at + REGION_HEADER);
    at += REGION_HEADER + r.bytes.length;
  }
  return b;
}

/** IOCTL's whole reply payload: the result, then {@link ioctlReplyBody}. */
export function encodeIoctlReply(
  result: number,
  out: Uint8Array,
  regions: readonly { addr: bigint; bytes: Uint8Array }[],
): Uint8Array {
  return replyPayload(result, ioctlReplyBody(out, regions));
}

/** `{u64 hva, u64 size}` of MEMFD and MUNMAP. */
export function decodeRange(p: Uint8Array): { hva: number; size: number } | string {
  if (p.length < 16) return `range payload of ${p.length} bytes`;
  const v = new DataView(p.buffer, p.byteOffset, 16);
  const hva = v.getBigUint64(0, true);
  const size = v.getBigUint64(8, true);
  if (hva > BigInt(Number.MAX_SAFE_INTEGER) || size > BigInt(Number.MAX_SAFE_INTEGER)) {
    return `range 0x${hva.toString(16)}+0x${size.toString(16)} out of reach`;
  }
  return { hva: Number(hva), size: Number(size) };
}
