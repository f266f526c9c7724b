#include "kmod.h"
MODULE(MODULE_CLASS_MISC, sysv_ipc, NULL);
PLAIN_MODCMD(sysv_ipc)
