/**
 * The kvm and kvm_amd module parameters a client reads in /sys/module/<module>/parameters/<name>
 * (the selftests probe `sev`, `sev_es`, `sev_snp`…), answered for the model: an AMD host whose
 * kvm_amd has SEV and SEV-ES and no SEV-SNP, with the modules' defaults otherwise. kvm_intel is not
 * loaded: its parameters do not exist.
 */
import type { ModelPlatform } from '../vmm/platform.js';

const PARAMS: Readonly<Record<string, string>> = {
  'kvm_amd/sev': 'Y',
  'kvm_amd/sev_es': 'Y',
  'kvm_amd/sev_snp': 'N',
  'kvm_amd/npt': 'Y',
  'kvm_amd/nested': '0',
  'kvm_amd/avic': 'N',
  'kvm_amd/vls': 'Y',
  'kvm_amd/vgif': '1',
  'kvm_amd/lbrv': '1',
  'kvm_amd/dump_invalid_vmcb': 'N',
  'kvm_amd/intercept_smi': 'Y',
  'kvm/tdp_mmu': 'Y',
  'kvm/enable_pmu': 'Y',
  'kvm/ignore_msrs': 'N',
  'kvm/report_ignored_msrs': 'Y',
  'kvm/force_emulation_prefix': '0',
  'kvm/halt_poll_ns': '200000',
  'kvm/enable_vmware_backdoor': 'N',
  'kvm/kvmclock_periodic_sync': 'Y',
  'kvm/nx_huge_pages': 'N',
  'kvm/eager_page_split': 'Y',
  'kvm/mitigate_smt_rsb': 'N',
};

/** The file's contents (with the newline sysfs writes), or undefined: no such file. */
export function moduleParam(_platform: ModelPlatform, path: string): string | undefined {
  const m = /^\/sys\/module\/([a-z_]+)\/parameters\/([a-z0-9_]+)$/.exec(path);
  if (!m) return undefined;
  const v = PARAMS[`${m[1]}/${m[2]}`];
  return v === undefined ? undefined : `${v}\n`;
}
