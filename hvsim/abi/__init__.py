"""Xen's public ABI as data: hypercall and sub-op numbers, flags, errno values
and struct layouts for each guest ABI (x86_64, x86_32 compat, arm64).

Every number lives here once, named exactly as in Xen's public headers
(xen/include/public/*.h); one module per header.  The guests' C header is
generated from these modules (python -m hvsim.abi.cheader), so hypervisor and
guests cannot drift.  Nothing here knows about Unicorn or domains."""

from .cstruct import ARM64, X86_32, X86_64, ALL_ABIS  # noqa: F401
