#include "kmod.h"
MODULE(MODULE_CLASS_MISC, selfdep, "selfdep");
PLAIN_MODCMD(selfdep)
