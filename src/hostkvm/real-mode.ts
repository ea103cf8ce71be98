/**
 * A tiny assembler for the real-mode (16-bit) guests the oracle runs on the real /dev/kvm: just
 * the instructions whose exits the exit-protocol tests compare with scripted guests (port I/O,
 * loads and stores through DS, RDMSR/WRMSR, VMMCALL, HLT, `jmp $`). Hand-encoded, so the bytes
 * are the documentation; operand size 4 takes the 0x66 prefix, as real mode defaults to 16 bits.
 */

/** Operand sizes of port I/O and data moves in these guests. */
export type RealModeSize = 1 | 2 | 4;

/** The 32-bit registers these guests move between, by their encoding. */
const REG32 = { eax: 0, ecx: 1, edx: 2, ebx: 3 } as const;
/** A 32-bit register name. */
export type Reg32 = keyof typeof REG32;

/** Builds one real-mode code blob; every method appends an instruction and returns `this`. */
export class RealModeAsm {
  readonly #b: number[] = [];

  /** Offset of the next instruction (for jumps and interrupt vectors). */
  get here(): number {
    return this.#b.length;
  }

  #emit(...bytes: number[]): this {
    for (const x of bytes) this.#b.push(x & 0xff);
    return this;
  }

  #imm16(v: number): number[] {
    return [v & 0xff, (v >>> 8) & 0xff];
  }

  #imm32(v: number): number[] {
    return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  }

  /** `mov al|ax|eax, imm`. */
  movA(size: RealModeSize, imm: number): this {
    if (size === 1) return this.#emit(0xb0, imm);
    if (size === 2) return this.#emit(0xb8, ...this.#imm16(imm));
    return this.#emit(0x66, 0xb8, ...this.#imm32(imm));
  }

  /** `mov dx, imm16`. */
  movDx(imm: number): this {
    return this.#emit(0xba, ...this.#imm16(imm));
  }

  /** `mov ecx, imm32`. */
  movEcx(imm: number): this {
    return this.#emit(0x66, 0xb9, ...this.#imm32(imm));
  }

  /** `mov edx, imm32`. */
  movEdx(imm: number): this {
    return this.#emit(0x66, 0xba, ...this.#imm32(imm));
  }

  /** `mov dst, src` between 32-bit registers (0 = eax, 1 = ecx, 2 = edx, 3 = ebx). */
  mov32(dst: Reg32, src: Reg32): this {
    return this.#emit(0x66, 0x89, 0xc0 | (REG32[src] << 3) | REG32[dst]);
  }

  /** `mov ax, seg; mov ds, ax` (clobbers AX). */
  setDs(segment: number): this {
    return this.#emit(0xb8, ...this.#imm16(segment), 0x8e, 0xd8);
  }

  /** `out dx, al|ax|eax`. */
  outDx(size: RealModeSize): this {
    if (size === 1) return this.#emit(0xee);
    if (size === 2) return this.#emit(0xef);
    return this.#emit(0x66, 0xef);
  }

  /** `in al|ax|eax, dx`. */
  inDx(size: RealModeSize): this {
    if (size === 1) return this.#emit(0xec);
    if (size === 2) return this.#emit(0xed);
    return this.#emit(0x66, 0xed);
  }

  /** `mov dx, port; mov a, value; out dx, a`. */
  out(port: number, size: RealModeSize, value: number): this {
    return this.movDx(port).movA(size, value).outDx(size);
  }

  /** `mov al|ax|eax, [ds:disp16]` (moffs form). */
  load(size: RealModeSize, disp: number): this {
    if (size === 1) return this.#emit(0xa0, ...this.#imm16(disp));
    if (size === 2) return this.#emit(0xa1, ...this.#imm16(disp));
    return this.#emit(0x66, 0xa1, ...this.#imm16(disp));
  }

  /** `mov [ds:disp16], al|ax|eax` (moffs form). */
  store(size: RealModeSize, disp: number): this {
    if (size === 1) return this.#emit(0xa2, ...this.#imm16(disp));
    if (size === 2) return this.#emit(0xa3, ...this.#imm16(disp));
    return this.#emit(0x66, 0xa3, ...this.#imm16(disp));
  }

  /** `rdmsr` (ECX = index; EDX:EAX = value). */
  rdmsr(): this {
    return this.#emit(0x0f, 0x32);
  }

  /** `wrmsr` (ECX = index, EDX:EAX = value). */
  wrmsr(): this {
    return this.#emit(0x0f, 0x30);
  }

  /** `vmmcall` (AMD's hypercall instruction; KVM emulates it on either vendor). */
  vmmcall(): this {
    return this.#emit(0x0f, 0x01, 0xd9);
  }

  /** `hlt`. */
  hlt(): this {
    return this.#emit(0xf4);
  }

  /** `jmp short target` (an offset from {@link here}, within -128..127 bytes of the next instruction). */
  jmp(target: number): this {
    const rel = target - (this.here + 2);
    if (rel < -128 || rel > 127) throw new RangeError(`jmp short out of range: ${rel}`);
    return this.#emit(0xeb, rel);
  }

  /** `jmp $`: a guest that never exits on its own. */
  jmpSelf(): this {
    return this.#emit(0xeb, 0xfe);
  }

  /** The code. */
  bytes(): Uint8Array {
    return Uint8Array.from(this.#b);
  }
}

/** A fresh assembler. */
export function asm(): RealModeAsm {
  return new RealModeAsm();
}
