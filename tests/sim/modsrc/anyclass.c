#include "kmod.h"
MODULE(MODULE_CLASS_ANY, anyclass, NULL);
PLAIN_MODCMD(anyclass)
