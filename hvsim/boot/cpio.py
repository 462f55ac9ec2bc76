"""Writing an initramfs: the "newc" cpio format Linux unpacks at boot
(Linux's init/initramfs.c reads it; Documentation/driver-api/
early-userspace/buffer-format.rst describes it; usr/gen_init_cpio.c writes
it).

Each entry is the 6-byte magic "070701", thirteen 8-digit hexadecimal
fields (ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
rdevmajor, rdevminor, namesize with its NUL, check 0), the name and its
NUL padded to a multiple of 4 bytes, then the data padded likewise; the
archive ends with an entry named "TRAILER!!!".  Entries are written in the
order given, owned by root, with mtime 0 and inode numbers counted from
721 as gen_init_cpio does, so the same inputs give the same bytes.
"""

import stat

NEWC_MAGIC = b"070701"
TRAILER = "TRAILER!!!"
FIRST_INO = 721                      # gen_init_cpio's first inode number
FIELDS = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor", "devminor",
          "rdevmajor", "rdevminor", "namesize", "check")


def _pad4(n):
    return -n % 4


def _record(name, mode, data=b"", nlink=1, rdev=(0, 0), ino=0):
    """One entry's bytes: header, name and data, each padded to 4 bytes."""
    encoded = name.encode() + b"\0"
    values = dict(ino=ino, mode=mode, uid=0, gid=0, nlink=nlink, mtime=0,
                  filesize=len(data), devmajor=0, devminor=0, rdevmajor=rdev[0],
                  rdevminor=rdev[1], namesize=len(encoded), check=0)
    header = NEWC_MAGIC + b"".join(b"%08X" % values[f] for f in FIELDS)
    return (header + encoded + b"\0" * _pad4(len(header) + len(encoded)) +
            data + b"\0" * _pad4(len(data)))


class Archive:
    """A newc archive built entry by entry: dir(), file(), symlink(), chardev();
    bytes() gives the archive with its trailer."""

    def __init__(self):
        self._out = bytearray()
        self._ino = FIRST_INO
        self._names = set()

    def _entry(self, name, mode, data=b"", nlink=1, rdev=(0, 0)):
        name = name.lstrip("/")
        if not name or name in self._names:
            raise ValueError("cpio: %r: empty or repeated name" % name)
        self._names.add(name)
        self._out += _record(name, mode, data, nlink, rdev, self._ino)
        self._ino += 1

    def dir(self, name, perm=0o755):
        self._entry(name, stat.S_IFDIR | perm, nlink=2)

    def file(self, name, data, perm=0o644):
        self._entry(name, stat.S_IFREG | perm, bytes(data))

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor, perm=0o600):
        self._entry(name, stat.S_IFCHR | perm, rdev=(major, minor))

    def bytes(self):
        """The archive, ended by its trailer entry."""
        return bytes(self._out) + _record(TRAILER, 0)
