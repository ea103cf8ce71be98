/**
 * /dev/sev as an open file: what `open("/dev/sev")` puts in a process's fd table. KVM checks that
 * the fd it is given is this file (sev_issue_cmd_external_user: `filep->f_op != &sev_fops` gives
 * -EBADF), then issues the command to the host's firmware.
 */
import type { SevFirmware } from './firmware.js';

/** An open /dev/sev (struct file with f_op = &sev_fops). */
export class SevDeviceFile {
  constructor(readonly firmware: SevFirmware) {}
}
