"""What dom0's tools do for every domain, as Xen's tools/ does (xenstored, ...)."""
