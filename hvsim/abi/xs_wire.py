"""The xenstore wire protocol (public/io/xs_wire.h): message types, the error
strings a reply carries, the message header and the shared ring page
(`struct xenstore_domain_interface`) between a domain and xenstored."""

from .cstruct import Struct, array, char, u32

# enum xsd_sockmsg_type
XS_CONTROL = 0
XS_DEBUG = XS_CONTROL
XS_DIRECTORY = 1
XS_READ = 2
XS_GET_PERMS = 3
XS_WATCH = 4
XS_UNWATCH = 5
XS_TRANSACTION_START = 6
XS_TRANSACTION_END = 7
XS_INTRODUCE = 8
XS_RELEASE = 9
XS_GET_DOMAIN_PATH = 10
XS_WRITE = 11
XS_MKDIR = 12
XS_RM = 13
XS_SET_PERMS = 14
XS_WATCH_EVENT = 15
XS_ERROR = 16
XS_IS_DOMAIN_INTRODUCED = 17
XS_RESUME = 18
XS_SET_TARGET = 19
# XS_RESTRICT (20) has been removed
XS_RESET_WATCHES = 21
XS_DIRECTORY_PART = 22
XS_GET_FEATURE = 23
XS_SET_FEATURE = 24
XS_GET_QUOTA = 25
XS_SET_QUOTA = 26
XS_TYPE_COUNT = 27
XS_INVALID = 0xFFFF

# enum xs_watch_type: the strings of an XS_WATCH_EVENT payload
XS_WATCH_PATH = 0
XS_WATCH_TOKEN = 1

# xsd_errors[]: errors travel as the errno's name; a new one is appended
XSD_ERRORS = ("EINVAL", "EACCES", "EEXIST", "EISDIR", "ENOENT", "ENOMEM", "ENOSPC",
              "EIO", "ENOTEMPTY", "ENOSYS", "EROFS", "EBUSY", "EAGAIN", "EISCONN",
              "E2BIG", "EPERM")

xsd_sockmsg = Struct("xsd_sockmsg", [
    ("type", u32),
    ("req_id", u32),      # echoed in the reply
    ("tx_id", u32),       # transaction id, 0 outside a transaction
    ("len", u32),         # payload bytes that follow
])
XSD_SOCKMSG_SIZE = 16

XENSTORE_RING_SIZE = 1024


def xenstore_idx(value):
    """XENSTORE_RING_IDX arithmetic: the indices are free-running uint32_t."""
    return value & 0xFFFFFFFF


xenstore_domain_interface = Struct("xenstore_domain_interface", [
    ("req", array(char, XENSTORE_RING_SIZE)),    # requests to xenstored
    ("rsp", array(char, XENSTORE_RING_SIZE)),    # replies and watch events
    ("req_cons", u32),
    ("req_prod", u32),
    ("rsp_cons", u32),
    ("rsp_prod", u32),
    ("server_features", u32),
    ("connection", u32),
    ("error", u32),
    ("evtchn_port", u32),
])

XENSTORE_PAYLOAD_MAX = 4096
XENSTORE_ABS_PATH_MAX = 3072
XENSTORE_REL_PATH_MAX = 2048

XENSTORE_SERVER_FEATURE_RECONNECTION = 1
XENSTORE_SERVER_FEATURE_ERROR = 2

XENSTORE_CONNECTED = 0
XENSTORE_RECONNECT = 1

XENSTORE_ERROR_NONE = 0
XENSTORE_ERROR_COMM = 1
XENSTORE_ERROR_RINGIDX = 2
XENSTORE_ERROR_PROTO = 3
