"""kmodbuild.kapi.conf - ``sys/sys/conf.h``: the device switch tables.

``devsw_attach`` follows the stub kernel's subr_devsw.c: a driver name seen
before keeps its majors, a new one gets the first free dynamic major (256 and
up); the chosen majors are written back through the caller's pointers.  As
lkm's post-install program did, the simulator then shows the device nodes to
create (``mknod /dev/NAME c MAJOR 0``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kmodbuild.kapi._kernel import Kernel, Registration, kforget, kfunc

HEADER = "sys/sys/conf.h"

EINVAL, ENOMEM, EEXIST, ENODEV, EOPNOTSUPP = 22, 12, 17, 19, 45
MAXDEVSW, DEVSW_DYNAMIC, DEVSW_NCONV = 512, 256, 64
NODEVMAJOR = -1


@dataclass
class DevswState:
    """``bdevsw[]``/``cdevsw[]`` (major -> guest switch address) and ``devsw_conv``."""

    bdevsw: dict[int, int] = field(default_factory=dict)
    cdevsw: dict[int, int] = field(default_factory=dict)
    conv: dict[str, tuple[int, int]] = field(default_factory=dict)


def devsw(k: Kernel) -> DevswState:
    """This kernel's device switch state."""
    return k.state("conf", DevswState)


def _major(dev: int) -> int:
    return (dev & 0x000FFF00) >> 8


def _pick(table: dict[int, int], sw: int, known: int, requested: int) -> tuple[int, int]:
    """devsw_pick(): (errno, major)."""
    m = requested if requested != NODEVMAJOR else known
    if m == NODEVMAJOR:
        m = next((i for i in range(DEVSW_DYNAMIC, MAXDEVSW) if i not in table), NODEVMAJOR)
    if m < 0 or m >= MAXDEVSW:
        return ENOMEM, m
    if table.get(m, sw) != sw:
        return EEXIST, m
    return 0, m


@kfunc("int devsw_attach(const char *, const struct bdevsw *, devmajor_t *, "
       "const struct cdevsw *, devmajor_t *)")
def devsw_attach(k: Kernel, devname: int, bdev: int, bmajorp: int, cdev: int,
                 cmajorp: int) -> int:
    if devname == 0 or cdev == 0:
        return EINVAL
    st = devsw(k)
    name = k.mem.cstring(devname, 32)
    known = st.conv.get(name, (NODEVMAJOR, NODEVMAJOR))
    error, cmajor = _pick(st.cdevsw, cdev, known[1], k.mem.sint(cmajorp, 4))
    bmajor = NODEVMAJOR
    if not error and bdev:
        error, bmajor = _pick(st.bdevsw, bdev, known[0], k.mem.sint(bmajorp, 4))
    if error:
        return error
    if name not in st.conv:
        if len(st.conv) == DEVSW_NCONV:
            return ENOMEM
        st.conv[name] = (bmajor, cmajor)
    k.mem.put(cmajorp, 4, cmajor)
    st.cdevsw[cmajor] = cdev
    k.registry.add(Registration("cdevsw", cdev, name, k.current, detail=f"major {cmajor}"))
    k.note(f"devsw_attach: {name}: mknod /dev/{name} c {cmajor} 0")
    if bdev:
        k.mem.put(bmajorp, 4, bmajor)
        st.bdevsw[bmajor] = bdev
        k.registry.add(Registration("bdevsw", bdev, name, k.current, detail=f"major {bmajor}"))
        k.note(f"devsw_attach: {name}: mknod /dev/{name} b {bmajor} 0")
    return 0


@kfunc("void devsw_detach(const struct bdevsw *, const struct cdevsw *)")
def devsw_detach(k: Kernel, bdev: int, cdev: int) -> None:
    st = devsw(k)
    for table, sw, kind in ((st.bdevsw, bdev, "bdevsw"), (st.cdevsw, cdev, "cdevsw")):
        if not sw:
            continue
        for m in [m for m, a in table.items() if a == sw]:
            del table[m]
        k.registry.remove(kind, sw)


@kfunc("const struct bdevsw *bdevsw_lookup(dev_t)")
def bdevsw_lookup(k: Kernel, dev: int) -> int:
    return devsw(k).bdevsw.get(_major(dev), 0)


@kfunc("const struct cdevsw *cdevsw_lookup(dev_t)")
def cdevsw_lookup(k: Kernel, dev: int) -> int:
    return devsw(k).cdevsw.get(_major(dev), 0)


@kfunc("devmajor_t bdevsw_lookup_major(const struct bdevsw *)")
def bdevsw_lookup_major(k: Kernel, bdev: int) -> int:
    return next((m for m, a in sorted(devsw(k).bdevsw.items()) if a == bdev), NODEVMAJOR)


@kfunc("devmajor_t cdevsw_lookup_major(const struct cdevsw *)")
def cdevsw_lookup_major(k: Kernel, cdev: int) -> int:
    return next((m for m, a in sorted(devsw(k).cdevsw.items()) if a == cdev), NODEVMAJOR)


@kfunc("int devenodev(dev_t, ...)")
def devenodev(k: Kernel, dev: int, ap: object) -> int:
    return ENODEV


@kfunc("int deveopnotsupp(dev_t, ...)")
def deveopnotsupp(k: Kernel, dev: int, ap: object) -> int:
    return EOPNOTSUPP


@kfunc("int devnullop(dev_t, ...)")
def devnullop(k: Kernel, dev: int, ap: object) -> int:
    return 0


@kfunc("int ttyenodev(struct tty *, ...)")
def ttyenodev(k: Kernel, tp: int, ap: object) -> int:
    return ENODEV


@kfunc("void ttyvenodev(struct tty *, ...)")
def ttyvenodev(k: Kernel, tp: int, ap: object) -> None:
    return None


@kfunc("void ttyvnullop(struct tty *, ...)")
def ttyvnullop(k: Kernel, tp: int, ap: object) -> None:
    return None


@kfunc("paddr_t nommap(dev_t, off_t, int)")
def nommap(k: Kernel, dev: int, off: int, prot: int) -> int:
    return -1


@kfunc("int seltrue_kqfilter(dev_t, struct knote *)")
def seltrue_kqfilter(k: Kernel, dev: int, kn: int) -> int:
    return 0


def _name_of(k: Kernel, major: int, block: bool) -> int:
    for name, (b, c) in devsw(k).conv.items():
        if (b if block else c) == major:
            return _guest_string(k, name)
    return 0


def _guest_string(k: Kernel, text: str) -> int:
    """A kernel-owned copy of ``text`` (devsw_conv names live in the kernel)."""
    cache = k.state("conf.names", dict)
    if text not in cache:
        data = text.encode() + b"\0"
        cache[text] = k.alloc(len(data))
        k.mem.write(cache[text], data)
    return int(cache[text])


@kfunc("const char *cdevsw_getname(devmajor_t)")
def cdevsw_getname(k: Kernel, major: int) -> int:
    return _name_of(k, major, False)


@kfunc("const char *bdevsw_getname(devmajor_t)")
def bdevsw_getname(k: Kernel, major: int) -> int:
    return _name_of(k, major, True)


def _name2major(k: Kernel, name: int, devname: int, devnamelen: int, block: bool) -> int:
    text = k.mem.cstring(name, 64)
    for conv, (b, c) in devsw(k).conv.items():
        rest = text[len(conv):]
        if text.startswith(conv) and (not rest or rest[0].isdigit()):
            if devname and devnamelen:
                k.mem.write(devname, conv.encode()[:devnamelen - 1] + b"\0")
            return b if block else c
    return NODEVMAJOR


@kfunc("devmajor_t devsw_name2blk(const char *, char *, size_t)")
def devsw_name2blk(k: Kernel, name: int, devname: int, devnamelen: int) -> int:
    return _name2major(k, name, devname, devnamelen, True)


@kfunc("devmajor_t devsw_name2chr(const char *, char *, size_t)")
def devsw_name2chr(k: Kernel, name: int, devname: int, devnamelen: int) -> int:
    return _name2major(k, name, devname, devnamelen, False)


@kforget("cdevsw")
@kforget("bdevsw")
def _forget_devsw(k: Kernel, reg: Registration) -> None:
    """Clear the switch entries of a driver that is gone."""
    st = devsw(k)
    for table in (st.bdevsw, st.cdevsw):
        for m in [m for m, a in table.items() if a == reg.key]:
            del table[m]
