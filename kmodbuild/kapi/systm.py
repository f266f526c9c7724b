"""kmodbuild.kapi.systm - ``sys/sys/systm.h``: console output, error stubs, copies, globals.

printf and friends format from guest memory (:func:`kmodbuild.kapi._printf.kformat`)
and print to the simulated console the way subr_prf.c does: ``printf`` and
``aprint_normal``/``aprint_error`` are shown, ``aprint_verbose``/``_debug``/
``_naive`` and ``log()`` only reach the message buffer (boothowto has neither
AB_VERBOSE nor AB_DEBUG).  ``panic()`` stops the modcmd with a report.
"""
from __future__ import annotations

from collections.abc import Callable

from kmodbuild.kapi._kernel import GuestFault, HookBudget, Kernel, kdata, kfunc
from kmodbuild.kapi._printf import ArgSource, FieldTooWide, kformat
from kmodbuild.kapi._struct import Struct

HEADER = "sys/sys/systm.h"

ENXIO, ENODEV, ENOTTY, EOPNOTSUPP, ENAMETOOLONG, ENOSYS = 6, 19, 25, 45, 63, 78
SYS_NSYSENT, SYS_exit = 512, 1
SYCALL_NOSYS = 0x0800000

#: struct sysent (systm.h)
SYSENT = Struct("sysent", (("sy_narg", "i16"), ("sy_argsize", "i16"), ("sy_flags", "i32"),
                           ("sy_call", "ptr"), ("sy_entry", "u32"), ("sy_return", "u32")))


def format_args(k: Kernel, fmt: int, ap: ArgSource) -> str:
    """The text printf(``fmt``, ...) would print (counted against the hooks' budget)."""
    try:
        text = kformat(k.mem.cstring(fmt), ap, k.mem.cstring, k.word_bits, k.mem.put)
    except FieldTooWide as e:
        raise HookBudget(str(e)) from None
    k.mem.charge(len(text))
    return text


# ---- error and no-op stubs (kern/subr_xxx.c)
@kfunc("int nullop(void *)")
def nullop(k: Kernel, v: int) -> int:
    return 0


@kfunc("void voidop(void)")
def voidop(k: Kernel) -> None:
    return None


@kfunc("int enodev(void)")
def enodev(k: Kernel) -> int:
    return ENODEV


@kfunc("int enosys(void)")
def enosys(k: Kernel) -> int:
    return ENOSYS


@kfunc("int enoioctl(void)")
def enoioctl(k: Kernel) -> int:
    return ENOTTY


@kfunc("int enxio(void)")
def enxio(k: Kernel) -> int:
    return ENXIO


@kfunc("int eopnotsupp(void)")
def eopnotsupp(k: Kernel) -> int:
    return EOPNOTSUPP


@kfunc("int sys_nomodule(struct lwp *, const void *, register_t *)")
def sys_nomodule(k: Kernel, l: int, v: int, retval: int) -> int:
    return ENOSYS


# ---- console output (kern/subr_prf.c)
@kfunc("void printf(const char *, ...)")
def printf(k: Kernel, fmt: int, ap: ArgSource) -> None:
    k.output(format_args(k, fmt, ap))


@kfunc("void printf_nolog(const char *, ...)")
def printf_nolog(k: Kernel, fmt: int, ap: ArgSource) -> None:
    k.output(format_args(k, fmt, ap))


@kfunc("void vprintf(const char *, va_list)")
def vprintf(k: Kernel, fmt: int, ap: int) -> None:
    k.output(format_args(k, fmt, k.va_list(ap)))


@kfunc("void uprintf(const char *, ...)")
def uprintf(k: Kernel, fmt: int, ap: ArgSource) -> None:
    k.output(format_args(k, fmt, ap), channel="tty")


@kfunc("void log(int, const char *, ...)")
def log(k: Kernel, level: int, fmt: int, ap: ArgSource) -> None:
    k.output(format_args(k, fmt, ap), shown=False, channel="log")


def _snprintf(k: Kernel, buf: int, size: int, text: str) -> int:
    """Write what fits (none into a NULL buffer, as vsnprintf); the whole length."""
    data = text.encode("latin-1", "replace")
    if buf and size > 0:
        k.mem.write(buf, data[:size - 1] + b"\0")
    return len(data)


@kfunc("int snprintf(char *, size_t, const char *, ...)")
def snprintf(k: Kernel, buf: int, size: int, fmt: int, ap: ArgSource) -> int:
    return _snprintf(k, buf, size, format_args(k, fmt, ap))


@kfunc("int vsnprintf(char *, size_t, const char *, va_list)")
def vsnprintf(k: Kernel, buf: int, size: int, fmt: int, ap: int) -> int:
    return _snprintf(k, buf, size, format_args(k, fmt, k.va_list(ap)))


@kfunc("void aprint_normal(const char *, ...)")
def aprint_normal(k: Kernel, fmt: int, ap: ArgSource) -> None:
    k.output(format_args(k, fmt, ap))


@kfunc("void aprint_error(const char *, ...)")
def aprint_error(k: Kernel, fmt: int, ap: ArgSource) -> None:
    k.output(format_args(k, fmt, ap))


@kfunc("void aprint_naive(const char *, ...)")
def aprint_naive(k: Kernel, fmt: int, ap: ArgSource) -> None:
    k.output(format_args(k, fmt, ap), shown=False, channel="naive")


@kfunc("void aprint_verbose(const char *, ...)")
def aprint_verbose(k: Kernel, fmt: int, ap: ArgSource) -> None:
    k.output(format_args(k, fmt, ap), shown=False, channel="verbose")


@kfunc("void aprint_debug(const char *, ...)")
def aprint_debug(k: Kernel, fmt: int, ap: ArgSource) -> None:
    k.output(format_args(k, fmt, ap), shown=False, channel="debug")


@kfunc("void panic(const char *, ...)")
def panic(k: Kernel, fmt: int, ap: ArgSource) -> None:
    k.panic(format_args(k, fmt, ap))


@kfunc("void vpanic(const char *, va_list)")
def vpanic(k: Kernel, fmt: int, ap: int) -> None:
    k.panic(format_args(k, fmt, k.va_list(ap)))


@kfunc("void tablefull(const char *, const char *)")
def tablefull(k: Kernel, tab: int, mesg: int) -> None:
    extra = f"; {k.mem.cstring(mesg)}" if mesg else ""
    k.output(f"{k.mem.cstring(tab)}: table is full{extra}\n", shown=False, channel="log")


# ---- user/kernel copies (kern/subr_copy.c): one address space here.  A bad address
# makes the copies that take one from user space (copyin, copyout and their string forms)
# and kcopy -- which exists for it -- return EFAULT, as their fault handlers do; copystr,
# between kernel addresses, faults.
EFAULT = 14


def _user_copy(copy: Callable[[], int]) -> int:
    try:
        return copy()
    except GuestFault:
        return EFAULT


@kfunc("int copystr(const void *, void *, size_t, size_t *)")
def copystr(k: Kernel, src: int, dst: int, length: int, done: int) -> int:
    data = k.mem.cstring(src, max(length, 0)).encode("latin-1")
    if len(data) < length:
        k.mem.write(dst, data + b"\0")
        if done:
            k.mem.put(done, k.target.pointer_size, len(data) + 1)
        return 0
    k.mem.write(dst, data[:length])
    if done:
        k.mem.put(done, k.target.pointer_size, length)
    return ENAMETOOLONG


@kfunc("int copyinstr(const void *, void *, size_t, size_t *)")
def copyinstr(k: Kernel, src: int, dst: int, length: int, done: int) -> int:
    return _user_copy(lambda: copystr(k, src, dst, length, done))


@kfunc("int copyoutstr(const void *, void *, size_t, size_t *)")
def copyoutstr(k: Kernel, src: int, dst: int, length: int, done: int) -> int:
    return _user_copy(lambda: copystr(k, src, dst, length, done))


def _copy(k: Kernel, src: int, dst: int, length: int) -> int:
    if length:
        k.mem.write(dst, k.mem.read(src, length))
    return 0


@kfunc("int kcopy(const void *, void *, size_t)")
def kcopy(k: Kernel, src: int, dst: int, length: int) -> int:
    return _user_copy(lambda: _copy(k, src, dst, length))


@kfunc("int copyin(const void *, void *, size_t)")
def copyin(k: Kernel, uaddr: int, kaddr: int, length: int) -> int:
    return _user_copy(lambda: _copy(k, uaddr, kaddr, length))


@kfunc("int copyout(const void *, void *, size_t)")
def copyout(k: Kernel, kaddr: int, uaddr: int, length: int) -> int:
    return _user_copy(lambda: _copy(k, kaddr, uaddr, length))


@kfunc("void delay(unsigned int)")
def delay(k: Kernel, usec: int) -> None:
    return None


# ---- data (kern/init_main.c, kern/kern_syscall.c)
def _int_init(value: int):  # type: ignore[no-untyped-def]
    def init(k: Kernel, addr: int, size: int) -> None:
        k.mem.put(addr, min(size, 4), value)
    return init


def _string_init(text_of):  # type: ignore[no-untyped-def]
    def init(k: Kernel, addr: int, size: int) -> None:
        data = text_of(k).encode() + b"\0"
        k.mem.write(addr, data[:max(size, 1)])
    return init


kdata("extern int hz")(_int_init(100))
kdata("extern int stathz")(_int_init(100))
kdata("extern int profhz")(_int_init(100))
kdata("extern int boothowto")(_int_init(0))
kdata("extern int doing_shutdown")(_int_init(0))
kdata("extern const char *panicstr")(_int_init(0))
kdata("extern const char copyright[]")(_string_init(
    lambda k: "Copyright (c) 1996-2024 The NetBSD Foundation, Inc.  All rights reserved."))
kdata("extern const char ostype[]")(_string_init(lambda k: "NetBSD"))
kdata("extern const char version[]")(_string_init(lambda k: "NetBSD (kmodbuild stub kernel)"))
kdata("extern char machine[]")(_string_init(lambda k: k.target.machine))
kdata("extern char machine_arch[]")(_string_init(lambda k: k.target.machine_arch))
kdata("extern const char osrelease[]")(_string_init(
    lambda k: k.sim.config.version.osrelease if k.sim is not None else "10.0"))


@kdata("extern struct sysent sysent[]")
def init_sysent(k: Kernel, addr: int, size: int) -> None:
    """syscall_init(): every slot sys_nosys + SYCALL_NOSYS, except exit."""
    lay = k.layout(SYSENT)
    nosys = k.sym("sys_nosys")
    for i in range(min(SYS_NSYSENT, size // lay.size)):
        entry = addr + i * lay.size
        k.mem.set(entry, lay, "sy_call", nosys)
        k.mem.set(entry, lay, "sy_flags", SYCALL_NOSYS)
    if size >= (SYS_exit + 1) * lay.size:
        exit_entry = addr + SYS_exit * lay.size
        k.mem.set(exit_entry, lay, "sy_call", k.sym("sys_exit"))
        k.mem.set(exit_entry, lay, "sy_flags", 0)
        k.mem.set(exit_entry, lay, "sy_narg", 1)
        k.mem.set(exit_entry, lay, "sy_argsize", k.target.pointer_size)


kdata("extern const uint32_t sysent_nomodbits[]")(_int_init(0))
