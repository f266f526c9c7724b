#include "kmod.h"
MODULE(9, badclass, NULL);
PLAIN_MODCMD(badclass)
