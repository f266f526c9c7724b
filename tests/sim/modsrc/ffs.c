#include "kmod.h"
MODULE(MODULE_CLASS_VFS, ffs, NULL);
int ffs_root(void) { return hz; }
PLAIN_MODCMD(ffs)
