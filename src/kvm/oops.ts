import { KvmError } from '../uapi/kvm-error.js';

/**
 * The host kernel faulted while handling an ioctl (an oops: a division by zero, a bad pointer).
 * In Linux the calling task dies and the ioctl never returns; sevbox throws this instead and marks
 * the VM dead, so later calls fail with EIO. A distinct outcome: never a guest-visible result, never
 * an accident of the model.
 */
export class KernelOops extends KvmError {
  constructor(
    /** What the kernel would print, e.g. "divide error in kvm_sev_es_outs". */
    readonly oops: string,
  ) {
    super('EIO', `host kernel oops: ${oops}`);
    this.name = 'KernelOops';
  }
}
