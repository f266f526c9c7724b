"""kmodbuild.kapi.uio - ``sys/sys/uio.h``: moving data through ``struct uio`` (subr_copy.c)."""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, kfunc
from kmodbuild.kapi._struct import Struct

HEADER = "sys/sys/uio.h"

EINVAL = 22
UIO_READ = 0

#: struct iovec
IOVEC = Struct("iovec", (("iov_base", "ptr"), ("iov_len", "uword")))
#: struct uio
UIO = Struct("uio", (("uio_iov", "ptr"), ("uio_iovcnt", "i32"), ("uio_offset", "i64"),
                     ("uio_resid", "uword"), ("uio_rw", "i32"), ("uio_vmspace", "ptr")))


@kfunc("int uiomove(void *, size_t, struct uio *)")
def uiomove(k: Kernel, buf: int, n: int, uio: int) -> int:
    lay, ilay = k.layout(UIO), k.layout(IOVEC)
    while n > 0 and k.mem.get(uio, lay, "uio_resid") > 0:
        if k.mem.get(uio, lay, "uio_iovcnt") <= 0:
            return EINVAL
        iov = k.mem.get(uio, lay, "uio_iov")
        cnt = k.mem.get(iov, ilay, "iov_len")
        if cnt == 0:
            k.mem.set(uio, lay, "uio_iov", iov + ilay.size)
            k.mem.set(uio, lay, "uio_iovcnt", k.mem.get(uio, lay, "uio_iovcnt") - 1)
            continue
        cnt = min(cnt, n)
        base = k.mem.get(iov, ilay, "iov_base")
        if k.mem.get(uio, lay, "uio_rw") == UIO_READ:
            k.mem.write(base, k.mem.read(buf, cnt))
        else:
            k.mem.write(buf, k.mem.read(base, cnt))
        k.mem.set(iov, ilay, "iov_base", base + cnt)
        k.mem.set(iov, ilay, "iov_len", k.mem.get(iov, ilay, "iov_len") - cnt)
        k.mem.set(uio, lay, "uio_resid", k.mem.get(uio, lay, "uio_resid") - cnt)
        k.mem.set(uio, lay, "uio_offset", k.mem.get(uio, lay, "uio_offset") + cnt)
        buf += cnt
        n -= cnt
    return 0


@kfunc("int uiomove_frombuf(void *, size_t, struct uio *)")
def uiomove_frombuf(k: Kernel, buf: int, buflen: int, uio: int) -> int:
    offset = k.mem.get(uio, k.layout(UIO), "uio_offset")
    if offset < 0 or offset >= buflen:
        return 0
    return uiomove(k, buf + offset, buflen - offset, uio)
