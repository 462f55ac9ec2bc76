"""Xen's default ("dummy") XSM policy (xen/include/xsm/dummy.h), decided by
the domain capabilities hyperlaunch gives (DOMAIN_CAPS_*).

Action classes, as xsm_default_action() (each falls through to the next):
  HOOK     always
  TARGET   self, then as DM_PRIV
  XS_PRIV  the xenstore or control domain (not self), then as DM_PRIV
  DM_PRIV  the caller's stub-domain target, then as PRIV
  PRIV     the control domain only
With the proposed (not yet merged) split of dom0's powers (Andryuk v2 patches
03, 04, 06), also implemented: a DEVICE_MODEL domain passes DM_PRIV (and so
TARGET and XS_PRIV) for any target, and a NOT_HYPERCALL_TARGET target fails
DM_PRIV and PRIV (and so TARGET/XS_PRIV from others) whoever asks.
The hardware domain gets nothing from these classes; its extra rights are
explicit is_hardware_domain() checks at the call sites, as in Xen.
"""

from ..abi.console import CONSOLEIO_write
from ..abi.bootfdt import DOMAIN_CAPS_NOT_HYPERCALL_TARGET

HOOK, TARGET, XS_PRIV, DM_PRIV, PRIV = "HOOK", "TARGET", "XS_PRIV", "DM_PRIV", "PRIV"


class XsmPolicy:
    def __init__(self, hv):
        self.hv = hv

    def allowed(self, action, src, target=None):
        """xsm_default_action(action, src, target) == 0, in the fall-through
        order of dummy.h (with the proposed DEVICE_MODEL / NOT_HYPERCALL_TARGET
        checks at the head of the DM_PRIV and PRIV blocks)."""
        if action == HOOK:
            return True
        if action == TARGET and target is not None and src is target:
            return True
        if action == XS_PRIV and (src.is_xenstore_domain or src.is_privileged):
            return True
        untargetable = target is not None and target.caps & DOMAIN_CAPS_NOT_HYPERCALL_TARGET
        if action in (TARGET, XS_PRIV, DM_PRIV):
            if untargetable:
                return False
            if src.is_dm_domain:
                return True
            if target is not None and src.target is target:
                return True
        if untargetable:
            return False
        return src.is_privileged

    def console_io(self, d, cmd):
        """xsm_console_io() of a debug build (CONFIG_VERBOSE_DEBUG): console
        domains may read and write, anyone may write, the rest needs PRIV."""
        if d.is_console or cmd == CONSOLEIO_write:
            return True
        return self.allowed(PRIV, d)
