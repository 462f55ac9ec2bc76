"""Xen's default ("dummy") XSM policy (xen/include/xsm/dummy.h), decided by
the domain capabilities hyperlaunch gives (DOMAIN_CAPS_*).

Action classes, as xsm_default_action():
  HOOK     always
  TARGET   self, the caller's stub-domain target, or the control domain
  XS_PRIV  the xenstore domain, the target, or the control domain
  DM_PRIV  the target, or the control domain
  PRIV     the control domain only
With the proposed (not yet merged) split of dom0's powers, also implemented:
  DEVICE_MODEL capability passes DM_PRIV for any target, and a target with
  NOT_HYPERCALL_TARGET fails DM_PRIV and PRIV whoever asks.
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
        """xsm_default_action(action, src, target) == 0."""
        if action == HOOK:
            return True
        if action == TARGET:
            if target is not None and src is target:
                return True
            if target is not None and src.target is target:
                return True
            return src.is_privileged
        untargetable = target is not None and target.caps & DOMAIN_CAPS_NOT_HYPERCALL_TARGET
        if action == XS_PRIV:
            if src.is_xenstore_domain:
                return True
            if target is not None and src.target is target:
                return True
            return src.is_privileged
        if action == DM_PRIV:
            if untargetable:
                return False
            if src.is_dm_domain:
                return True
            if target is not None and src.target is target:
                return True
            return src.is_privileged
        if action == PRIV:
            if untargetable:
                return False
            return src.is_privileged
        raise ValueError(action)

    def console_io(self, d, cmd):
        """xsm_console_io() of a debug build (CONFIG_VERBOSE_DEBUG): console
        domains may read and write, anyone may write, the rest needs PRIV."""
        if d.is_console or cmd == CONSOLEIO_write:
            return True
        return self.allowed(PRIV, d)
