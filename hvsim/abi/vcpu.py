"""public/vcpu.h: VCPUOP_* sub-ops, runstates and argument structs."""

from .cstruct import Struct, array, s32, u32, u64

VCPUOP_initialise = 0
VCPUOP_up = 1
VCPUOP_down = 2
VCPUOP_is_up = 3
VCPUOP_get_runstate_info = 4
VCPUOP_register_runstate_memory_area = 5
VCPUOP_set_periodic_timer = 6
VCPUOP_stop_periodic_timer = 7
VCPUOP_set_singleshot_timer = 8
VCPUOP_stop_singleshot_timer = 9
VCPUOP_register_vcpu_info = 10
VCPUOP_send_nmi = 11
VCPUOP_get_physid = 12
VCPUOP_register_vcpu_time_memory_area = 13
VCPUOP_register_runstate_phys_area = 14
VCPUOP_register_vcpu_time_phys_area = 15

RUNSTATE_running = 0
RUNSTATE_runnable = 1
RUNSTATE_blocked = 2
RUNSTATE_offline = 3

VCPU_SSHOTTMR_future = 1 << 0

vcpu_runstate_info = Struct("vcpu_runstate_info", [
    ("state", s32), ("state_entry_time", u64), ("time", array(u64, 4))])
vcpu_set_periodic_timer = Struct("vcpu_set_periodic_timer", [("period_ns", u64)])
vcpu_set_singleshot_timer = Struct("vcpu_set_singleshot_timer", [
    ("timeout_abs_ns", u64), ("flags", u32)])
# the guest handle union (h / v / p) is 8 bytes in every ABI
vcpu_register_runstate_memory_area = Struct("vcpu_register_runstate_memory_area", [
    ("addr", u64)])
vcpu_register_time_memory_area = Struct("vcpu_register_time_memory_area", [("addr", u64)])
XEN_RUNSTATE_UPDATE = 1 << 63

vcpu_register_vcpu_info = Struct("vcpu_register_vcpu_info", [
    ("mfn", u64), ("offset", u32), ("rsvd", u32)])
