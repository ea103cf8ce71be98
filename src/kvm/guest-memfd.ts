/**
 * guest_memfd files (KVM_CREATE_GUEST_MEMFD) and their bindings to memslots (kvm_gmem_bind in
 * virt/kvm/guest_memfd.c), enough for KVM_SET_USER_MEMORY_REGION2's errno rules. A guest_memfd
 * belongs to one VM; a range of it may back at most one memslot. sevbox's VMs have no private
 * memory, so a guest_memfd slot's accesses still go through its userspace_addr, as shared
 * accesses do in Linux.
 */
import type { ErrnoName } from '../uapi/errno.js';

/** One guest_memfd file. */
export interface GuestMemfd {
  readonly fd: number;
  readonly owner: object;
  readonly size: number;
  /** Bound page ranges [start, end) of the file, with the slot bound to each. */
  readonly bindings: { start: number; end: number; slotId: number }[];
}

/**
 * The process's file descriptors as far as KVM looks them up: 0-2 are open (stdin, stdout,
 * stderr) but are nothing KVM accepts; guest_memfds and other files the process opens (such as
 * /dev/sev, which KVM_SEV_LAUNCH_START names) get numbers from 1000 up (a real process hands out
 * the lowest free number; sevbox keeps them clear of the small ones a test might probe).
 */
export class FdTable {
  readonly #gmem = new Map<number, GuestMemfd>();
  /** Other open files by fd, each an object whose class says what it is (as f_op does). */
  readonly #files = new Map<number, object>();
  #next = 1000;

  /** open(2) of a file the model knows (e.g. /dev/sev): its new fd. */
  install(file: object): number {
    const fd = this.#next++;
    this.#files.set(fd, file);
    return fd;
  }

  /** fdget: the open file behind `fd` other than a guest_memfd, or undefined (closed, never opened, 0-2). */
  file(fd: number): object | undefined {
    return this.#files.get(fd);
  }

  /** KVM_CREATE_GUEST_MEMFD: EINVAL for a size that is zero or not page aligned. */
  createGuestMemfd(owner: object, size: number): GuestMemfd | ErrnoName {
    if (!Number.isSafeInteger(size) || size <= 0 || size % 4096 !== 0) return 'EINVAL';
    const f: GuestMemfd = { fd: this.#next++, owner, size, bindings: [] };
    this.#gmem.set(f.fd, f);
    return f;
  }

  /** kvm_gmem_bind: EBADF for a closed fd, EINVAL for anything but an unbound range of this VM's guest_memfd. */
  bind(owner: object, fd: number, offset: bigint, npages: number, slotId: number): ErrnoName | undefined {
    const f = this.#gmem.get(fd);
    // Another open file (stdin..stderr are open in every process) is EINVAL; no file at all, EBADF.
    if (!f) return this.#files.has(fd) || (fd >= 0 && fd <= 2) ? 'EINVAL' : 'EBADF';
    if (f.owner !== owner) return 'EINVAL';
    if (offset % 4096n !== 0n || offset + BigInt(npages) * 4096n > BigInt(f.size)) return 'EINVAL';
    const start = Number(offset / 4096n);
    const end = start + npages;
    if (f.bindings.some((b) => b.start < end && start < b.end)) return 'EINVAL';
    f.bindings.push({ start, end, slotId });
    return undefined;
  }

  /** kvm_gmem_unbind: the slot is deleted. */
  unbind(fd: number, slotId: number): void {
    const f = this.#gmem.get(fd);
    if (!f) return;
    const i = f.bindings.findIndex((b) => b.slotId === slotId);
    if (i >= 0) f.bindings.splice(i, 1);
  }

  /** close(fd). */
  close(fd: number): boolean {
    return this.#gmem.delete(fd) || this.#files.delete(fd);
  }
}
