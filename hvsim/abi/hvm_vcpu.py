"""public/hvm/hvm_vcpu.h: struct vcpu_hvm_context, the register state
VCPUOP_initialise takes for an HVM/PVH vCPU (identical on i386 and x86_64)."""

from .cstruct import Struct, array, u16, u32, u64, union

VCPU_HVM_MODE_32B = 0
VCPU_HVM_MODE_64B = 1

vcpu_hvm_x86_32 = Struct("vcpu_hvm_x86_32", [
    ("eax", u32), ("ecx", u32), ("edx", u32), ("ebx", u32),
    ("esp", u32), ("ebp", u32), ("esi", u32), ("edi", u32),
    ("eip", u32), ("eflags", u32),
    ("cr0", u32), ("cr3", u32), ("cr4", u32), ("pad1", u32),
    ("efer", u64),
    ("cs_base", u32), ("ds_base", u32), ("ss_base", u32), ("es_base", u32), ("tr_base", u32),
    ("cs_limit", u32), ("ds_limit", u32), ("ss_limit", u32), ("es_limit", u32),
    ("tr_limit", u32),
    ("cs_ar", u16), ("ds_ar", u16), ("ss_ar", u16), ("es_ar", u16), ("tr_ar", u16),
    ("pad2", array(u16, 3)),
])
vcpu_hvm_x86_64 = Struct("vcpu_hvm_x86_64", [
    ("rax", u64), ("rcx", u64), ("rdx", u64), ("rbx", u64),
    ("rsp", u64), ("rbp", u64), ("rsi", u64), ("rdi", u64),
    ("rip", u64), ("rflags", u64),
    ("cr0", u64), ("cr3", u64), ("cr4", u64), ("efer", u64),
])
_cpu_regs = union("vcpu_hvm_cpu_regs", [("x86_32", vcpu_hvm_x86_32),
                                        ("x86_64", vcpu_hvm_x86_64)])
vcpu_hvm_context = Struct("vcpu_hvm_context", [
    ("mode", u32), ("pad", u32), ("cpu_regs", _cpu_regs)])
