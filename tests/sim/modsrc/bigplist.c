#include "kmod.h"
MODULE(MODULE_CLASS_MISC, bigplist, NULL);
PLAIN_MODCMD(bigplist)
