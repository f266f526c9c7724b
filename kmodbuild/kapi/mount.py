"""kmodbuild.kapi.mount - ``sys/sys/mount.h``: file-system registration and VFS dispatch.

``vfs_attach`` reads ``vfs_name`` from the module's ``struct vfsops`` in
emulated memory, refuses a name already known (EEXIST), links the structure
on ``vfs_list`` as vfs_init.c does and calls its ``vfs_init``; from then on
``mount -t NAME`` finds it (:meth:`kmodbuild.simulator.SimKernel.vfs_list`).
``vfs_detach`` refuses while referenced (EBUSY) and calls ``vfs_done``.  The
``VFS_*`` wrappers call through ``mnt_op`` like vfs_subr.c.
"""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, Registration, kdata, kforget, kfunc
from kmodbuild.kapi._struct import Struct, entry_names, list_entry

HEADER = "sys/sys/mount.h"

EEXIST, EBUSY, ESRCH, EFTYPE, EOPNOTSUPP = 17, 16, 3, 79, 45

_VFS_OPS = ("vfs_mount", "vfs_start", "vfs_unmount", "vfs_root", "vfs_quotactl",
            "vfs_statvfs", "vfs_sync", "vfs_vget", "vfs_loadvnode", "vfs_newvnode",
            "vfs_fhtovp", "vfs_vptofh", "vfs_init", "vfs_reinit", "vfs_done", "vfs_mountroot",
            "vfs_snapshot", "vfs_extattrctl", "vfs_suspendctl", "vfs_renamelock_enter",
            "vfs_renamelock_exit", "vfs_fsync")

#: struct vfsops
VFSOPS = Struct("vfsops", (("vfs_name", "ptr"), ("vfs_min_mount_data", "uword"),
                           *((op, "ptr") for op in _VFS_OPS), ("vfs_opv_descs", "ptr"),
                           ("vfs_refcount", "i32"), *list_entry("vfs_list")),
                c_members=entry_names("vfs_list", "vfs_list"))
#: struct statvfs (statvfs.h)
STATVFS = Struct("statvfs", (
    ("f_flag", "uword"), ("f_bsize", "uword"), ("f_frsize", "uword"), ("f_iosize", "uword"),
    *((f, "u64") for f in ("f_blocks", "f_bfree", "f_bavail", "f_bresvd", "f_files",
                           "f_ffree", "f_favail", "f_fresvd", "f_syncreads", "f_syncwrites",
                           "f_asyncreads", "f_asyncwrites")),
    ("f_fsidx", ("i32", 2)), ("f_fsid", "uword"), ("f_namemax", "uword"), ("f_owner", "u32"),
    ("f_spare", ("u64", 4)), ("f_fstypename", "char[32]"), ("f_mntonname", "char[1024]"),
    ("f_mntfromname", "char[1024]"), ("f_mntfromlabel", "char[1024]")))
#: struct mount
MOUNT = Struct("mount", (*list_entry("mnt_list"), ("mnt_op", "ptr"),
                         ("mnt_vnodecovered", "ptr"), ("mnt_lower", "ptr"), ("mnt_data", "ptr"),
                         ("mnt_refcnt", "i32"), ("mnt_flag", "i32"), ("mnt_iflag", "i32"),
                         ("mnt_fs_bshift", "i32"), ("mnt_dev_bshift", "i32"),
                         ("mnt_stat", STATVFS)),
               c_members=entry_names("mnt_list", "mnt_list", "tqe"))


def vfs_names(k: Kernel) -> list[str]:
    """Names of the registered file systems, newest first (``vfs_list`` order)."""
    return [r.name for r in k.registry.of_kind("vfs")]


def _op(k: Kernel, mp: int, op: str) -> int:
    ops = k.mem.get(mp, k.layout(MOUNT), "mnt_op")
    return k.mem.get(ops, k.layout(VFSOPS), op)


def _dispatch(k: Kernel, mp: int, op: str, default: int | None, *args: int) -> int:
    fn = _op(k, mp, op)
    if fn == 0:
        if default is None:
            k.panic(f"VFS: {op} is NULL")
        return default
    return k.call(fn, mp, *args, ret="i32")


@kfunc("int vfs_attach(struct vfsops *)")
def vfs_attach(k: Kernel, vfs: int) -> int:
    lay = k.layout(VFSOPS)
    name = k.mem.cstring(k.mem.get(vfs, lay, "vfs_name"), 64)
    if name in vfs_names(k):
        return EEXIST
    k.mem.set(vfs, lay, "vfs_refcount", 0)
    head = k.sym("vfs_list")
    if head:                                      # LIST_INSERT_HEAD(&vfs_list, vfs, vfs_list)
        first = k.mem.ptr(head)
        k.mem.set(vfs, lay, "vfs_list_next", first)
        if first:
            k.mem.set(first, lay, "vfs_list_prev", vfs + lay.offset("vfs_list_next"))
        k.mem.put_ptr(head, vfs)
        k.mem.set(vfs, lay, "vfs_list_prev", head)
    k.registry.add(Registration("vfs", vfs, name, k.current,
                                tuple(a for a in (k.mem.get(vfs, lay, op) for op in _VFS_OPS)
                                      if a)))
    init = k.mem.get(vfs, lay, "vfs_init")
    if init:
        k.call(init)
    return 0


@kfunc("int vfs_detach(struct vfsops *)")
def vfs_detach(k: Kernel, vfs: int) -> int:
    lay = k.layout(VFSOPS)
    if k.mem.get(vfs, lay, "vfs_refcount") != 0:
        return EBUSY
    if k.registry.remove("vfs", vfs) is None:
        return ESRCH
    nxt, prev = k.mem.get(vfs, lay, "vfs_list_next"), k.mem.get(vfs, lay, "vfs_list_prev")
    if prev:                                      # LIST_REMOVE(v, vfs_list)
        if nxt:
            k.mem.set(nxt, lay, "vfs_list_prev", prev)
        k.mem.put_ptr(prev, nxt)
    done = k.mem.get(vfs, lay, "vfs_done")
    if done:
        k.call(done)
    return 0


@kfunc("void vfs_reinit(void)")
def vfs_reinit(k: Kernel) -> None:
    lay = k.layout(VFSOPS)
    for reg in k.registry.of_kind("vfs"):
        fn = k.mem.get(reg.key, lay, "vfs_reinit")
        if fn:
            k.call(fn)


@kfunc("struct vfsops *vfs_getopsbyname(const char *)")
def vfs_getopsbyname(k: Kernel, name: int) -> int:
    wanted = k.mem.cstring(name, 64)
    lay = k.layout(VFSOPS)
    for reg in k.registry.of_kind("vfs"):
        if reg.name == wanted:
            k.mem.set(reg.key, lay, "vfs_refcount",
                      k.mem.get(reg.key, lay, "vfs_refcount") + 1)
            return reg.key
    return 0


@kfunc("void vfs_delref(struct vfsops *)")
def vfs_delref(k: Kernel, vfs: int) -> None:
    lay = k.layout(VFSOPS)
    count = k.mem.get(vfs, lay, "vfs_refcount")
    if count <= 0:
        k.panic("kernel diagnostic assertion \"vfs->vfs_refcount > 0\" failed: vfs_delref")
    k.mem.set(vfs, lay, "vfs_refcount", count - 1)


@kfunc("void vfs_getnewfsid(struct mount *)")
def vfs_getnewfsid(k: Kernel, mp: int) -> None:
    st = k.state("mount.fsid", lambda: [1])
    fsid, st[0] = st[0], st[0] + 1
    lay, slay = k.layout(MOUNT), k.layout(STATVFS)
    stat = mp + lay.offset("mnt_stat")
    k.mem.put(stat + slay.offset("f_fsidx"), 4, fsid)
    k.mem.put(stat + slay.offset("f_fsidx") + 4, 4, 0)
    k.mem.set(stat, slay, "f_fsid", fsid)


@kfunc("int vfs_stdextattrctl(struct mount *, int, struct vnode *, int, const char *)")
def vfs_stdextattrctl(k: Kernel, mp: int, cmd: int, vp: int, ns: int, name: int) -> int:
    return EOPNOTSUPP


@kfunc("int vfs_mountroot(void)")
def vfs_mountroot(k: Kernel) -> int:
    lay = k.layout(VFSOPS)
    for reg in k.registry.of_kind("vfs"):
        fn = k.mem.get(reg.key, lay, "vfs_mountroot")
        if fn and k.call(fn, ret="i32") == 0:
            k.output(f"root file system type: {reg.name}\n")
            return 0
    k.output("no file system for root\n")
    return EFTYPE


@kfunc("int vfs_busy(struct mount *)")
def vfs_busy(k: Kernel, mp: int) -> int:
    lay = k.layout(MOUNT)
    k.mem.set(mp, lay, "mnt_refcnt", k.mem.get(mp, lay, "mnt_refcnt") + 1)
    return 0


@kfunc("void vfs_unbusy(struct mount *)")
def vfs_unbusy(k: Kernel, mp: int) -> None:
    lay = k.layout(MOUNT)
    count = k.mem.get(mp, lay, "mnt_refcnt")
    if count <= 0:
        k.panic("kernel diagnostic assertion \"mp->mnt_refcnt > 0\" failed: vfs_unbusy")
    k.mem.set(mp, lay, "mnt_refcnt", count - 1)


def _strlcpy(k: Kernel, dst: int, src: int, size: int) -> None:
    k.mem.write(dst, k.mem.cstring(src, size - 1).encode("latin-1") + b"\0")


@kfunc("int set_statvfs_info(const char *, int, const char *, int, const char *, "
       "struct mount *, struct lwp *)")
def set_statvfs_info(k: Kernel, onp: int, ukon: int, fromp: int, ukfrom: int, vfsname: int,
                     mp: int, l: int) -> int:
    slay = k.layout(STATVFS)
    sfs = mp + k.layout(MOUNT).offset("mnt_stat")
    _strlcpy(k, sfs + slay.offset("f_fstypename"), vfsname, 32)
    if onp:
        _strlcpy(k, sfs + slay.offset("f_mntonname"), onp, 1024)
    if fromp:
        _strlcpy(k, sfs + slay.offset("f_mntfromname"), fromp, 1024)
    return 0


@kfunc("void copy_statvfs_info(struct statvfs *, const struct mount *)")
def copy_statvfs_info(k: Kernel, sbp: int, mp: int) -> None:
    lay, slay = k.layout(MOUNT), k.layout(STATVFS)
    mbp = mp + lay.offset("mnt_stat")
    if sbp == mbp:
        return
    for name in ("f_fsidx", "f_fsid", "f_owner", "f_fstypename", "f_mntonname",
                 "f_mntfromname"):
        f = slay[name]
        k.mem.write(sbp + f.offset, k.mem.read(mbp + f.offset, f.size))
    k.mem.set(sbp, slay, "f_flag", k.mem.get(mp, lay, "mnt_flag") & 0xFFFFFFFF)


# ---- VFS_* wrappers (vfs_subr.c): call through mp->mnt_op
@kfunc("int VFS_MOUNT(struct mount *, const char *, void *, size_t *)")
def VFS_MOUNT(k: Kernel, mp: int, path: int, data: int, len_: int) -> int:
    return _dispatch(k, mp, "vfs_mount", None, path, data, len_)


@kfunc("int VFS_START(struct mount *, int)")
def VFS_START(k: Kernel, mp: int, flags: int) -> int:
    return _dispatch(k, mp, "vfs_start", 0, flags)


@kfunc("int VFS_UNMOUNT(struct mount *, int)")
def VFS_UNMOUNT(k: Kernel, mp: int, flags: int) -> int:
    return _dispatch(k, mp, "vfs_unmount", None, flags)


@kfunc("int VFS_ROOT(struct mount *, int, struct vnode **)")
def VFS_ROOT(k: Kernel, mp: int, lktype: int, vpp: int) -> int:
    return _dispatch(k, mp, "vfs_root", EOPNOTSUPP, lktype, vpp)


@kfunc("int VFS_QUOTACTL(struct mount *, struct quotactl_args *)")
def VFS_QUOTACTL(k: Kernel, mp: int, args: int) -> int:
    return _dispatch(k, mp, "vfs_quotactl", EOPNOTSUPP, args)


@kfunc("int VFS_STATVFS(struct mount *, struct statvfs *)")
def VFS_STATVFS(k: Kernel, mp: int, sbp: int) -> int:
    return _dispatch(k, mp, "vfs_statvfs", EOPNOTSUPP, sbp)


@kfunc("int VFS_SYNC(struct mount *, int, struct kauth_cred *)")
def VFS_SYNC(k: Kernel, mp: int, waitfor: int, cred: int) -> int:
    return _dispatch(k, mp, "vfs_sync", 0, waitfor, cred)


@kfunc("int VFS_FHTOVP(struct mount *, struct fid *, int, struct vnode **)")
def VFS_FHTOVP(k: Kernel, mp: int, fid: int, lktype: int, vpp: int) -> int:
    return _dispatch(k, mp, "vfs_fhtovp", EOPNOTSUPP, fid, lktype, vpp)


@kfunc("int VFS_VPTOFH(struct vnode *, struct fid *, size_t *)")
def VFS_VPTOFH(k: Kernel, vp: int, fid: int, lenp: int) -> int:
    from kmodbuild.kapi.vnode import VNODE
    mp = k.mem.get(vp, k.layout(VNODE), "v_mount")
    fn = _op(k, mp, "vfs_vptofh")
    return k.call(fn, vp, fid, lenp, ret="i32") if fn else EOPNOTSUPP


@kfunc("int VFS_SNAPSHOT(struct mount *, struct vnode *, struct timespec *)")
def VFS_SNAPSHOT(k: Kernel, mp: int, vp: int, ts: int) -> int:
    return _dispatch(k, mp, "vfs_snapshot", EOPNOTSUPP, vp, ts)


@kfunc("int VFS_EXTATTRCTL(struct mount *, int, struct vnode *, int, const char *)")
def VFS_EXTATTRCTL(k: Kernel, mp: int, cmd: int, vp: int, ns: int, name: int) -> int:
    return _dispatch(k, mp, "vfs_extattrctl", EOPNOTSUPP, cmd, vp, ns, name)


@kfunc("int VFS_SUSPENDCTL(struct mount *, int)")
def VFS_SUSPENDCTL(k: Kernel, mp: int, cmd: int) -> int:
    return _dispatch(k, mp, "vfs_suspendctl", EOPNOTSUPP, cmd)


@kdata("extern struct vfs_list_head vfs_list")
def _vfs_list(k: Kernel, addr: int, size: int) -> None:
    k.mem.put_ptr(addr, 0)


@kforget("vfs")
def _forget_vfs(k: Kernel, reg: Registration) -> None:
    """Unlink a file system its module left on ``vfs_list``."""
    lay = k.layout(VFSOPS)
    vfs = reg.key
    nxt, prev = k.mem.get(vfs, lay, "vfs_list_next"), k.mem.get(vfs, lay, "vfs_list_prev")
    if prev:
        if nxt:
            k.mem.set(nxt, lay, "vfs_list_prev", prev)
        k.mem.put_ptr(prev, nxt)
