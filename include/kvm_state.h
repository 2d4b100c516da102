/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * KVM's side of the saved state (src/core/kvm_state.c): per vCPU (section
 * "kvm-vcpu", instance = vCPU index) the general and special registers,
 * FPU/XSAVE, XCRs, the MSRs KVM reports as saveable, the LAPIC, pending
 * events, MP state, debug registers and the TSC; per VM (section "kvm-vm")
 * the two PICs, the IOAPIC, the PIT and kvmclock.
 *
 * Call with the vCPUs stopped (out of KVM_RUN). A load reads and checks
 * every field before the first KVM_SET ioctl; if KVM then refuses a value
 * (say, an MSR this host does not have), the error names it and the VM is
 * half-loaded: the caller discards it. A vCPU must have its CPUID set
 * (KVM_SET_CPUID2) before its state is loaded, as KVM checks MSRs and
 * XSAVE components against it.
 */
#ifndef VMM_KVM_STATE_H
#define VMM_KVM_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "kvm.h"
#include "savestate.h"

#define KVM_STATE_MAX_MSRS 512

int kvm_vcpu_state_save(struct kvm_vm *kvm, int vcpu_fd, uint32_t index, struct ss_writer *w,
			char *err, size_t errlen);
int kvm_vcpu_state_load(struct kvm_vm *kvm, int vcpu_fd, uint32_t index, struct ss_reader *r,
			char *err, size_t errlen);
/* KVM_SET_MSRS of n MSRs; -1 with the first one KVM refused named. */
int kvm_vcpu_msrs_write(int vcpu_fd, const uint32_t *idx, const uint64_t *val, uint32_t n,
			char *err, size_t errlen);
int kvm_vm_state_save(struct kvm_vm *kvm, struct ss_writer *w, char *err, size_t errlen);

/* With every vCPU stopped: keep the guest's clock as it is now (hold), and
 * give it back before they run again (release). Both are no-ops when
 * there is nothing to do; -1 on an ioctl failure. */
int kvm_clock_hold(struct kvm_vm *kvm);
int kvm_clock_release(struct kvm_vm *kvm);
int kvm_vm_state_load(struct kvm_vm *kvm, struct ss_reader *r, char *err, size_t errlen);

#endif
